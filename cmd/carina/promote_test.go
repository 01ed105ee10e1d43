package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/source/forge"
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

// TestPromoteForgeOptions: the forge of --open-pr comes from the
// source's forge: section of --config; each --forge* flag replaces its
// field, and a --forge of another kind drops the section's API URL
// (another forge's).
func TestPromoteForgeOptions(t *testing.T) {
	const repoURL = "https://git.example.com/team/shop.git"
	section := &config.Forge{Kind: "gitea", APIURL: "https://git.example.com/api/v1", TokenFile: "/etc/carina/forge-token", StatusURL: "https://carina.example.com"}
	tests := []struct {
		name    string
		flags   promoteFlags
		section *config.Forge
		want    forge.Options
		wantErr string
	}{
		{"the source's section", promoteFlags{}, section,
			forge.Options{Kind: forge.Gitea, BaseURL: "https://git.example.com/api/v1", Repo: "team/shop", TokenFile: "/etc/carina/forge-token"}, ""},
		{"the section's repo", promoteFlags{}, &config.Forge{Kind: "github", Repo: "acme/shop", TokenFile: "/t"},
			forge.Options{Kind: forge.GitHub, Repo: "acme/shop", TokenFile: "/t"}, ""},
		{"flags override fields", promoteFlags{forgeURL: "https://mirror.example.com/api/v1", forgeRepo: "ops/shop", forgeTokenFile: "/other"}, section,
			forge.Options{Kind: forge.Gitea, BaseURL: "https://mirror.example.com/api/v1", Repo: "ops/shop", TokenFile: "/other"}, ""},
		{"another kind drops the section's URL", promoteFlags{forgeKind: "gitlab"}, section,
			forge.Options{Kind: forge.GitLab, Repo: "team/shop", TokenFile: "/etc/carina/forge-token"}, ""},
		{"flags only", promoteFlags{forgeKind: "gitea", forgeURL: "https://g/api/v1", forgeTokenFile: "/t"}, nil,
			forge.Options{Kind: forge.Gitea, BaseURL: "https://g/api/v1", Repo: "team/shop", TokenFile: "/t"}, ""},
		{"neither", promoteFlags{}, nil, forge.Options{}, "--open-pr needs --forge and --forge-token-file, or a forge: section on the source of --config"},
		{"a section without a token file", promoteFlags{}, &config.Forge{Kind: "gitea", APIURL: "https://g/api/v1"}, forge.Options{}, "--open-pr needs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.flags.forgeOptions(repoURL, tt.section)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("forge options (-want +got):\n%s", d)
			}
		})
	}
}
