package main

import (
	"strings"
	"testing"
)

func TestPromoteRefusesBadInput(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"promote", "hello"}, `"to" not set`},
		{[]string{"promote", "hello", "--to", "prod"}, "give --config or --repo"},
		{[]string{"promote", "hello", "--to", "Prod", "--repo", "https://git.example/o/r.git"}, "not a DNS label"},
		{[]string{"promote", "hello", "--to", "prod", "--repo", "https://git.example/o/r.git", "--open-pr"}, "--open-pr needs --forge"},
	} {
		if out, err := runCarina(t, tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v (output %q), want an error containing %q", tt.args, err, out, tt.want)
		}
	}
}
