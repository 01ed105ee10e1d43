package kustomize

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSubstitute(t *testing.T) {
	vars := map[string]string{"REGION": "eu-west-1", "EMPTY": "", "N": "3"}
	tests := []struct {
		in, want string
		strict   bool
	}{
		{"region: ${REGION}", "region: eu-west-1", false},
		{"replicas: ${N}", "replicas: 3", false},
		{"a: ${UNSET}", "a: ", false},
		{"a: ${UNSET:=fallback}", "a: fallback", false},
		{"a: ${UNSET:-fallback}", "a: fallback", false},
		{"a: ${EMPTY:=fallback}", "a: fallback", false},
		{"a: ${EMPTY}", "a: ", true},
		{"a: ${REGION:=fallback}", "a: eu-west-1", false},
		{"a: $${REGION}", "a: ${REGION}", false},
		{"a: $$${REGION}", "a: $${REGION}", false},
		{"a: $REGION and $ alone", "a: $REGION and $ alone", false},
		{"a: ${1} ${#x} ${a-b}", "a: ${1} ${#x} ${a-b}", false},
		{"a: ${REGION}-${N}${N}", "a: eu-west-1-33", false},
		{"a: ${X:=with spaces and : colons}", "a: with spaces and : colons", false},
		{"no variables", "no variables", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := substitute([]byte(tt.in), vars, tt.strict)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("substitute (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSubstituteErrors(t *testing.T) {
	tests := []struct {
		in, want string
		strict   bool
	}{
		{"a: ${UNSET}", "variable UNSET is not set and has no default", true},
		{"a: ${REGION", `unterminated ${ in "${REGION"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := substitute([]byte(tt.in), nil, tt.strict)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestIsRemote(t *testing.T) {
	tests := map[string]bool{
		"github.com/org/repo//base?ref=v1":        true,
		"GitHub.com:org/repo":                     true,
		"git@gitlab.example.com:org/repo.git":     true,
		"git::https://example.com/repo.git":       true,
		"https://example.com/x.yaml":              true,
		"HTTP://example.com/x.yaml":               true,
		"ssh://git@example.com/repo":              true,
		"file:///srv/repo":                        true,
		"s3://bucket/x":                           true,
		"../base":                                 false,
		"deployment.yaml":                         false,
		"github.com-mirror/base":                  false,
		"components/monitoring":                   false,
		"user-guide/e@mail":                       false,
		"dev.azure.com/org/project/_git/repo.git": false,
	}
	for in, want := range tests {
		if got := isRemote(in); got != want {
			t.Errorf("isRemote(%q) = %v, want %v", in, got, want)
		}
	}
}
