package webhook

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParsePullRequestDetails(t *testing.T) {
	tests := []struct {
		file     string
		provider Provider
		event    string
		check    func(t *testing.T, d PullRequestDetails)
	}{
		{"github-pr-opened.json", GitHub, "pull_request", func(t *testing.T, d PullRequestDetails) {
			if d.Fork || d.Author == "" || d.Title == "" || d.Action != ActionOpened || d.HeadBranch == "" || d.BaseBranch == "" || d.HeadSHA == "" {
				t.Errorf("details: %+v", d)
			}
		}},
		{"github-pr-synchronize-fork.json", GitHub, "pull_request", func(t *testing.T, d PullRequestDetails) {
			if !d.Fork || d.Action != ActionSynchronized {
				t.Errorf("a pull request from a fork: %+v", d)
			}
		}},
		{"gitea-pr-synchronized.json", Gitea, "pull_request", func(t *testing.T, d PullRequestDetails) {
			want := PullRequestDetails{Number: 5, Action: ActionSynchronized, HeadBranch: d.HeadBranch, HeadSHA: d.HeadSHA,
				BaseBranch: "main", Author: "kai", Title: "Ingress for eu-west"}
			if d.HeadSHA == "" || d.HeadBranch == "" {
				t.Errorf("head missing: %+v", d)
			}
			if diff := cmp.Diff(want, d); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		}},
		{"gitlab-mr-open.json", GitLab, "Merge Request Hook", func(t *testing.T, d PullRequestDetails) {
			if d.Fork || d.Title != "Move prod to nodepool v2" || d.Author == "" || d.Action != ActionOpened || d.BaseBranch != "main" {
				t.Errorf("details: %+v", d)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", "payloads", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			d, err := ParsePullRequestDetails(tt.provider, tt.event, body)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, d)
		})
	}
}

func TestParsePullRequestDetailsLabelsAndRefusals(t *testing.T) {
	body := `{"action":"opened","number":7,"pull_request":{"title":"t\u0007x","user":{"login":"ann"},
	  "labels":[{"name":"preview"},{"name":""}],
	  "head":{"ref":"feat","sha":"` + strings.Repeat("a", 40) + `","repo_id":3,"repo":{"id":3,"full_name":"o/r","clone_url":"https://g.example/o/r.git"}},
	  "base":{"ref":"main","sha":"` + strings.Repeat("b", 40) + `","repo_id":3,"repo":{"id":3,"full_name":"o/r","clone_url":"https://g.example/o/r.git"}}},
	  "repository":{"full_name":"o/r","clone_url":"https://g.example/o/r.git"}}`
	d, err := ParsePullRequestDetails(Gitea, "pull_request", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := PullRequestDetails{Number: 7, Action: ActionOpened, HeadSHA: strings.Repeat("a", 40), HeadBranch: "feat",
		BaseBranch: "main", Labels: []string{"preview"}, Author: "ann", Title: "tx"}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := ParsePullRequestDetails(Gitea, "push", []byte(body)); err == nil {
		t.Error("a push event gave pull request details")
	}
	if _, err := ParsePullRequestDetails(BitbucketCloud, "pullrequest:created", []byte(body)); err == nil {
		t.Error("bitbucket is not supported and should say so")
	}
}

func FuzzParsePullRequestDetails(f *testing.F) {
	for _, seed := range []struct {
		p     Provider
		event string
		file  string
	}{
		{GitHub, "pull_request", "github-pr-opened.json"},
		{GitHub, "pull_request", "github-pr-synchronize-fork.json"},
		{Gitea, "pull_request", "gitea-pr-synchronized.json"},
		{GitLab, "Merge Request Hook", "gitlab-mr-open.json"},
	} {
		body, err := os.ReadFile(filepath.Join("testdata", "payloads", seed.file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(seed.p), seed.event, body)
	}
	f.Fuzz(func(t *testing.T, p, event string, body []byte) {
		d, err := ParsePullRequestDetails(Provider(p), event, body)
		if err != nil {
			return
		}
		if d.Number <= 0 || len(d.Labels) > maxLabels || len(d.Title) > maxFieldLen {
			t.Errorf("accepted details %+v", d)
		}
		for _, s := range append([]string{d.Title, d.Author}, d.Labels...) {
			if strings.ContainsFunc(s, func(r rune) bool { return r < ' ' }) {
				t.Errorf("control character kept in %q", s)
			}
		}
	})
}
