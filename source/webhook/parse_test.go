package webhook

import (
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// fixture is a payload in testdata/payloads with the headers its forge
// sends along.
type fixture struct {
	name     string
	provider Provider
	headers  map[string]string
	// known is false for events the receiver accepts and ignores.
	known bool
}

var fixtures = []fixture{
	{"github-push", GitHub, map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "5d2c4b00-d8a1-11ee-8a11-5b8f0e1a2b3c"}, true},
	{"github-push-tag", GitHub, map[string]string{"X-GitHub-Event": "push"}, true},
	{"github-push-delete", GitHub, map[string]string{"X-GitHub-Event": "push"}, true},
	{"github-pr-opened", GitHub, map[string]string{"X-GitHub-Event": "pull_request"}, true},
	{"github-pr-synchronize-fork", GitHub, map[string]string{"X-GitHub-Event": "pull_request"}, true},
	{"github-pr-closed-merged", GitHub, map[string]string{"X-GitHub-Event": "pull_request"}, true},
	{"github-pr-closed", GitHub, map[string]string{"X-GitHub-Event": "pull_request"}, true},
	{"github-pr-labeled", GitHub, map[string]string{"X-GitHub-Event": "pull_request"}, false},
	{"github-ping", GitHub, map[string]string{"X-GitHub-Event": "ping"}, false},
	{"gitlab-push", GitLab, map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}, true},
	{"gitlab-tag-push", GitLab, map[string]string{"X-Gitlab-Event": "Tag Push Hook"}, true},
	{"gitlab-mr-open", GitLab, map[string]string{"X-Gitlab-Event": "Merge Request Hook"}, true},
	{"gitlab-mr-update-commits", GitLab, map[string]string{"X-Gitlab-Event": "Merge Request Hook"}, true},
	{"gitlab-mr-update-title", GitLab, map[string]string{"X-Gitlab-Event": "Merge Request Hook"}, false},
	{"gitlab-mr-merge", GitLab, map[string]string{"X-Gitlab-Event": "Merge Request Hook"}, true},
	{"gitea-push", Gitea, map[string]string{"X-Gitea-Event": "push", "X-Gitea-Delivery": "e1f7d7d0-0b9e-4a5e-9d3c-2a1b0c9d8e7f"}, true},
	{"gitea-push-tag", Gitea, map[string]string{"X-Forgejo-Event": "push"}, true},
	{"gitea-pr-synchronized", Gitea, map[string]string{"X-Gitea-Event": "pull_request", "X-Gitea-Event-Type": "pull_request_sync"}, true},
	{"gitea-pr-closed-merged", Gitea, map[string]string{"X-Gitea-Event": "pull_request"}, true},
	{"bitbucket-cloud-push", BitbucketCloud, map[string]string{"X-Event-Key": "repo:push", "X-Request-UUID": "b7e2a0c4-1d3f-4e5a-9b8c-7d6e5f4a3b2c"}, true},
	{"bitbucket-cloud-push-tag", BitbucketCloud, map[string]string{"X-Event-Key": "repo:push"}, true},
	{"bitbucket-cloud-pr-created", BitbucketCloud, map[string]string{"X-Event-Key": "pullrequest:created"}, true},
	{"bitbucket-cloud-pr-fulfilled", BitbucketCloud, map[string]string{"X-Event-Key": "pullrequest:fulfilled"}, true},
	{"bitbucket-server-refs-changed", BitbucketServer, map[string]string{"X-Event-Key": "repo:refs_changed", "X-Request-Id": "4f2d8a1e-7c3b-4e9a-b6d5-1a2b3c4d5e6f"}, true},
	{"bitbucket-server-refs-changed-tag", BitbucketServer, map[string]string{"X-Event-Key": "repo:refs_changed"}, true},
	{"bitbucket-server-pr-opened", BitbucketServer, map[string]string{"X-Event-Key": "pr:opened"}, true},
	{"bitbucket-server-pr-from-ref-updated", BitbucketServer, map[string]string{"X-Event-Key": "pr:from_ref_updated"}, true},
	{"bitbucket-server-pr-declined", BitbucketServer, map[string]string{"X-Event-Key": "pr:declined"}, true},
	{"bitbucket-server-ping", BitbucketServer, map[string]string{"X-Event-Key": "diagnostics:ping"}, false},
	{"generic-push", Generic, map[string]string{"X-Request-Id": "run-8812"}, true},
}

func readPayload(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "payloads", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkGolden compares got with testdata/golden/name.json, or rewrites it
// with -update.
func checkGolden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(b)); diff != "" {
		t.Errorf("event for %s (-want +got):\n%s", name, diff)
	}
}

func TestParseFixtures(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			body := readPayload(t, fx.name)
			h := http.Header{}
			for k, v := range fx.headers {
				h.Set(k, v)
			}
			p := providers[fx.provider]
			ev, known, err := p.parse(p.event(h), body)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if known != fx.known {
				t.Fatalf("known = %v, want %v", known, fx.known)
			}
			if !known {
				return
			}
			checkGolden(t, fx.name, ev)
		})
	}
}

func TestParseRejectsPayloadsWithoutRepository(t *testing.T) {
	tests := []struct {
		provider Provider
		event    string
		body     string
	}{
		{GitHub, "push", `{"ref":"refs/heads/main","after":"` + sha40 + `"}`},
		{GitHub, "push", `{"ref":"refs/heads/main","repository":{"clone_url":"not a url"}}`},
		{GitHub, "pull_request", `{"action":"opened","number":0,"pull_request":{"head":{},"base":{}},"repository":{"clone_url":"https://h/o/r.git"}}`},
		{GitLab, "Push Hook", `{"object_kind":"push","ref":"refs/heads/main"}`},
		{Gitea, "push", `[1,2,3]`},
		{BitbucketCloud, "repo:push", `{"push":{"changes":[]}}`},
		{BitbucketServer, "repo:refs_changed", `{"changes":[{"ref":{"id":"refs/heads/x"}}]}`},
		{Generic, "", `{"ref":"refs/heads/main"}`},
		{Generic, "", `{"repository":"https://h/o/r.git","ref":"refs/heads/\u0000x"}`},
	}
	for _, tc := range tests {
		p := providers[tc.provider]
		if _, known, err := p.parse(tc.event, []byte(tc.body)); err == nil || !known {
			t.Errorf("%s %s %s: known %v err %v, want a parse error", tc.provider, tc.event, tc.body, known, err)
		}
	}
}

const sha40 = "0123456789abcdef0123456789abcdef01234567"
