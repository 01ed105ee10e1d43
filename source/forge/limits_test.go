package forge

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestClientBoundsAnswersAndTime(t *testing.T) {
	big := strings.Repeat("x", 2048)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/repos/o/r/pulls":
			w.Write([]byte(`[{"title":"` + big + `"}]`))
		case "/repos/o/r/pulls/1":
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		case "/repos/o/r/pulls/2":
			http.Redirect(w, r, "http://elsewhere.invalid/steal", http.StatusFound)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := New(Options{Kind: GitHub, BaseURL: srv.URL, Repo: "o/r", TokenFile: tokenFile(t),
		MaxResponseBytes: 1024, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListOpenPullRequests(t.Context()); err == nil || !strings.Contains(err.Error(), "larger than 1024 bytes") {
		t.Errorf("oversized answer: %v", err)
	}
	if _, err := c.GetPullRequest(t.Context(), 1); err == nil || !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "Timeout") {
		t.Errorf("slow answer: %v", err)
	}
	if _, err := c.GetPullRequest(t.Context(), 2); err == nil || !strings.Contains(err.Error(), "redirect to another host refused") {
		t.Errorf("redirect to another host: %v", err)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	tok := tokenFile(t)
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		opts Options
		want string
	}{
		{Options{Kind: "bitbucket", Repo: "o/r", TokenFile: tok}, "not github, gitlab or gitea"},
		{Options{Kind: GitHub, Repo: "o", TokenFile: tok}, "not owner/name"},
		{Options{Kind: GitHub, Repo: "o/r/x", TokenFile: tok}, "not owner/name"},
		{Options{Kind: Gitea, Repo: "o/r", TokenFile: tok}, "baseURL is required"},
		{Options{Kind: GitHub, Repo: "o/r", BaseURL: "https://u:p@api.example", TokenFile: tok}, "must not carry credentials"},
		{Options{Kind: GitHub, Repo: "o/r", BaseURL: "ftp://api.example", TokenFile: tok}, "not an http(s) URL"},
		{Options{Kind: GitHub, Repo: "o/r"}, "tokenFile is not set"},
		{Options{Kind: GitHub, Repo: "o/r", TokenFile: empty}, "must hold one non-empty line"},
		{Options{Kind: GitHub, Repo: "o/r", TokenFile: "/nonexistent/token"}, "cannot open /nonexistent/token"},
	} {
		if _, err := New(tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v): %v, want %q", tt.opts, err, tt.want)
		}
	}
	c, err := New(Options{Kind: GitLab, Repo: "group/sub/project", TokenFile: tok})
	if err != nil || c.Repo() != "group/sub/project" {
		t.Errorf("GitLab subgroup project: %v", err)
	}
}

func TestSetStatusRefusesBadInput(t *testing.T) {
	c, err := New(Options{Kind: GitHub, Repo: "o/r", BaseURL: "http://127.0.0.1:1", TokenFile: tokenFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	sha := strings.Repeat("a", 40)
	for _, tt := range []struct {
		sha string
		st  Status
	}{
		{"main", Status{Context: "carina/prod", State: StateSuccess}},
		{sha, Status{State: StateSuccess}},
		{sha, Status{Context: "carina/prod", State: "done"}},
	} {
		if err := c.SetStatus(t.Context(), tt.sha, tt.st); err == nil {
			t.Errorf("SetStatus(%q, %+v) accepted", tt.sha, tt.st)
		}
	}
	if _, _, err := c.UpsertComment(t.Context(), 1, "bad key!", "x"); err == nil {
		t.Error("a comment key with a space was accepted")
	}
	if _, _, err := c.OpenOrUpdatePullRequest(t.Context(), PullRequestSpec{Head: "main", Base: "main", Title: "t"}); err == nil {
		t.Error("a pull request from a branch into itself was accepted")
	}
}

func TestCutBodyStaysUnderTheLimit(t *testing.T) {
	long := strings.Repeat("- changed `Deployment/shop/web`\n", 5000)
	got := cutBody(long, MaxCommentBytes)
	if len(got) > MaxCommentBytes || !strings.HasSuffix(got, "longer than the forge allows)") {
		t.Errorf("cut body: %d bytes, ends %q", len(got), got[len(got)-40:])
	}
	if cutBody("short", MaxCommentBytes) != "short" {
		t.Error("a short body was changed")
	}
}
