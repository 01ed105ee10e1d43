package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAgentCheckValidatesOnly(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "hook")
	os.WriteFile(secret, []byte("s3cret\n"), 0o600)
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte(`
sources: {apps: [{name: demo, url: "https://git.example.com/demo.git"}]}
clusters: [{name: staging, inCluster: true}]
webhooks: [{provider: github, secretFile: `+secret+`}]
`), 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("sources: {apps: []}\nclusters: [{name: x, inCluster: true, bogus: 1}]\n"), 0o600)
	tests := []struct {
		name    string
		args    []string
		wantOut string
		wantErr []string
	}{
		{name: "valid", args: []string{"agent", "--check", "--config", good}, wantOut: "is valid: 1 app sources, 0 capability sources, 1 clusters, 1 webhooks"},
		{name: "every problem", args: []string{"agent", "--check", "--config", bad}, wantErr: []string{
			bad + `:2: unknown field "bogus"`,
			bad + ":1:11: sources.apps: at least one application source is required",
		}},
		{name: "no config", args: []string{"agent", "--check"}, wantErr: []string{"--config is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRootCmd()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetArgs(tt.args)
			err := root.ExecuteContext(t.Context())
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("succeeded: %s", out.String())
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output %q lacks %q", out.String(), tt.wantOut)
			}
		})
	}
}
