package forge

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The GitHub and GitLab APIs cannot run here. These tests serve answers
// shaped like the examples of their API documentation (testdata/github,
// testdata/gitlab) from a fake server, and check what the clients send.

const testToken = "tok-0123456789-secret"

// route is one canned answer: status and a fixture file ("" for none).
type route struct {
	status  int
	fixture string
}

// recorded is one request the fake server received.
type recorded struct {
	Method, Path, Query string
	Body                map[string]any
	Header              http.Header
}

type fakeForge struct {
	t      *testing.T
	dir    string
	routes map[string]route // "METHOD /path" (no query)
	mu     sync.Mutex
	reqs   []recorded
}

func newFakeForge(t *testing.T, dir string, routes map[string]route) (*fakeForge, *httptest.Server) {
	f := &fakeForge{t: t, dir: dir, routes: routes}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeForge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := recorded{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Header: r.Header.Clone()}
	if data, _ := io.ReadAll(r.Body); len(data) > 0 {
		_ = json.Unmarshal(data, &rec.Body)
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, rec)
	rt, ok := f.routes[r.Method+" "+rec.Path]
	f.mu.Unlock()
	if !ok {
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rt.status)
	if rt.fixture != "" {
		data, err := os.ReadFile(filepath.Join("testdata", f.dir, rt.fixture))
		if err != nil {
			f.t.Error(err)
		}
		w.Write(data)
	}
}

func (f *fakeForge) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func (f *fakeForge) setRoute(key string, rt route) {
	f.mu.Lock()
	f.routes[key] = rt
	f.mu.Unlock()
}

func (f *fakeForge) reset() {
	f.mu.Lock()
	f.reqs = nil
	f.mu.Unlock()
}

// calls lists "METHOD /path" of the requests received.
func (f *fakeForge) calls() []string {
	var out []string
	for _, r := range f.requests() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

func tokenFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newTestClient(t *testing.T, kind Kind, base, repo string) *Client {
	t.Helper()
	c, err := New(Options{Kind: kind, BaseURL: base, Repo: repo, TokenFile: tokenFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGitHubClientAgainstDocFixtures(t *testing.T) {
	const repo = "/repos/octocat/Hello-World"
	const sha = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
	f, srv := newFakeForge(t, "github", map[string]route{
		"GET " + repo + "/pulls":                      {200, "pulls.json"},
		"POST " + repo + "/pulls":                     {201, "pull.json"},
		"PATCH " + repo + "/pulls/1347":               {200, "pull.json"},
		"PUT " + repo + "/pulls/1347/merge":           {200, "merged.json"},
		"POST " + repo + "/statuses/" + sha:           {201, "created_status.json"},
		"GET " + repo + "/commits/" + sha + "/status": {200, "status.json"},
		"GET " + repo + "/issues/1347/comments":       {200, "comments.json"},
		"PATCH " + repo + "/issues/comments/2":        {200, "comment.json"},
		"GET " + repo + "/issues/1348/comments":       {200, ""},
		"POST " + repo + "/issues/1348/comments":      {201, "comment.json"},
		"GET " + repo + "/issues/1350/comments":       {200, "comments_marker_by_another.json"},
		"POST " + repo + "/issues/1350/comments":      {201, "comment.json"},
		"GET /user":                                   {200, "user.json"},
	})
	c := newTestClient(t, GitHub, srv.URL, "octocat/Hello-World")
	ctx := t.Context()

	t.Run("list open pull requests", func(t *testing.T) {
		got, err := c.ListOpenPullRequests(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []PullRequest{
			{Number: 1347, Title: "Amazing new feature", Author: "octocat", HeadBranch: "new-topic", HeadSHA: sha,
				BaseBranch: "master", Labels: []string{"bug"}, URL: "https://github.com/octocat/Hello-World/pull/1347"},
			{Number: 1348, Title: "Fix typo from a fork", Author: "hubot", HeadBranch: "typo", HeadSHA: "7638417db6d59f3c431d3e1f261cc637155684cd",
				BaseBranch: "master", Fork: true, Draft: true, URL: "https://github.com/octocat/Hello-World/pull/1348"},
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("pull requests (-want +got):\n%s", d)
		}
		r := f.requests()[len(f.requests())-1]
		if r.Header.Get("Authorization") != "Bearer "+testToken || r.Header.Get("X-GitHub-Api-Version") == "" {
			t.Errorf("headers: %v", r.Header)
		}
		if !strings.Contains(r.Query, "state=open") || !strings.Contains(r.Query, "per_page=100") {
			t.Errorf("query %q", r.Query)
		}
	})
	t.Run("commit status", func(t *testing.T) {
		f.reset()
		err := c.SetStatus(ctx, sha, Status{Context: StatusContext("staging"), State: StateSuccess,
			Description: "deployed", TargetURL: "https://carina.example.com/api/v1/apps/shop"})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"state": "success", "context": "carina/staging", "description": "deployed",
			"target_url": "https://carina.example.com/api/v1/apps/shop"}
		if d := cmp.Diff(want, f.requests()[0].Body); d != "" {
			t.Errorf("status body (-want +got):\n%s", d)
		}
		comb, err := c.CombinedStatus(ctx, sha)
		if err != nil {
			t.Fatal(err)
		}
		wantComb := CombinedStatus{State: StateFailure, Statuses: []Status{
			{Context: "continuous-integration/jenkins", State: StateSuccess, Description: "Build has completed successfully", TargetURL: "https://ci.example.com/1000/output"},
			{Context: "security/brakeman", State: StateError, Description: "Testing has failed!", TargetURL: "https://ci.example.com/2000/output"},
		}}
		if d := cmp.Diff(wantComb, comb); d != "" {
			t.Errorf("combined status (-want +got):\n%s", d)
		}
	})
	t.Run("comment updated in place when the marker is there", func(t *testing.T) {
		f.reset()
		// Comment 4 by octocat carries the marker too and comes first:
		// only comment 2, by the token's own user, is Carina's.
		cm, created, err := c.UpsertComment(ctx, 1347, "diff", "new diff")
		if err != nil || created || cm.ID != 2 || cm.Author != "carina-bot" {
			t.Fatalf("upsert: %+v created=%v err=%v", cm, created, err)
		}
		want := []string{"GET /user", "GET " + repo + "/issues/1347/comments", "PATCH " + repo + "/issues/comments/2"}
		if d := cmp.Diff(want, f.calls()); d != "" {
			t.Errorf("calls (-want +got):\n%s", d)
		}
		if got := f.requests()[2].Body["body"]; got != "<!-- carina:diff -->\nnew diff" {
			t.Errorf("body %q", got)
		}
	})
	t.Run("comment found by its marker and its author", func(t *testing.T) {
		f.reset()
		cm, ok, err := c.FindComment(ctx, 1347, "diff")
		if err != nil || !ok || cm.ID != 2 || cm.Body != "<!-- carina:diff -->\nold diff" || cm.Author != "carina-bot" {
			t.Fatalf("find: %+v ok=%v err=%v", cm, ok, err)
		}
		if _, ok, err := c.FindComment(ctx, 1348, "diff"); err != nil || ok {
			t.Fatalf("find on a pull request without it: ok=%v err=%v", ok, err)
		}
		if d := cmp.Diff([]string{"GET " + repo + "/issues/1347/comments", "GET " + repo + "/issues/1348/comments"}, f.calls()); d != "" {
			t.Errorf("calls (-want +got):\n%s", d)
		}
	})
	t.Run("comment created when no marker", func(t *testing.T) {
		f.reset()
		_, created, err := c.UpsertComment(ctx, 1348, "diff", "new diff")
		if err != nil || !created {
			t.Fatalf("upsert: created=%v err=%v", created, err)
		}
		if d := cmp.Diff([]string{"GET " + repo + "/issues/1348/comments", "POST " + repo + "/issues/1348/comments"}, f.calls()); d != "" {
			t.Errorf("calls (-want +got):\n%s", d)
		}
	})
	t.Run("marker comment by another user left alone and ours created", func(t *testing.T) {
		f.reset()
		if cm, ok, err := c.FindComment(ctx, 1350, "diff"); err != nil || ok {
			t.Fatalf("find returned hubot's comment as Carina's: %+v ok=%v err=%v", cm, ok, err)
		}
		cm, created, err := c.UpsertComment(ctx, 1350, "diff", "new diff")
		if err != nil || !created || cm.Author != "carina-bot" {
			t.Fatalf("upsert: %+v created=%v err=%v", cm, created, err)
		}
		want := []string{"GET " + repo + "/issues/1350/comments", "GET " + repo + "/issues/1350/comments", "POST " + repo + "/issues/1350/comments"}
		if d := cmp.Diff(want, f.calls()); d != "" {
			t.Errorf("calls (-want +got), hubot's comment 5 must not be edited:\n%s", d)
		}
	})
	t.Run("open pull request, none open for the branch", func(t *testing.T) {
		f.reset()
		pr, created, err := c.OpenOrUpdatePullRequest(ctx, PullRequestSpec{Head: "carina/promote-shop-prod", Base: "master", Title: "Promote shop to prod", Body: "body"})
		if err != nil || !created || pr.Number != 1349 {
			t.Fatalf("open: %+v created=%v err=%v", pr, created, err)
		}
		want := map[string]any{"head": "carina/promote-shop-prod", "base": "master", "title": "Promote shop to prod", "body": "body"}
		if d := cmp.Diff(want, f.requests()[1].Body); d != "" {
			t.Errorf("create body (-want +got):\n%s", d)
		}
	})
	t.Run("update the open pull request of the branch", func(t *testing.T) {
		f.reset()
		_, created, err := c.OpenOrUpdatePullRequest(ctx, PullRequestSpec{Head: "new-topic", Base: "master", Title: "t", Body: "b"})
		if err != nil || created {
			t.Fatalf("update: created=%v err=%v", created, err)
		}
		if d := cmp.Diff([]string{"GET " + repo + "/pulls", "PATCH " + repo + "/pulls/1347"}, f.calls()); d != "" {
			t.Errorf("calls (-want +got):\n%s", d)
		}
		if d := cmp.Diff(map[string]any{"title": "t", "body": "b"}, f.requests()[1].Body); d != "" {
			t.Errorf("update body (-want +got):\n%s", d)
		}
	})
	t.Run("merge", func(t *testing.T) {
		f.reset()
		if err := c.Merge(ctx, 1347, sha); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(map[string]any{"sha": sha, "merge_method": "merge"}, f.requests()[0].Body); d != "" {
			t.Errorf("merge body (-want +got):\n%s", d)
		}
	})
}

// A GitHub App's installation token may not read GET /user (GitHub
// answers 403 "Resource not accessible by integration"); GraphQL's viewer
// is then the app's bot user, whose login is "<app-slug>[bot]". These
// fixtures are shaped like GitHub's documentation and reports of that
// answer; GitHub cannot run here.
func TestGitHubAppInstallationTokenAgainstDocFixtures(t *testing.T) {
	const repo = "/repos/octocat/Hello-World"
	f, srv := newFakeForge(t, "github", map[string]route{
		"GET /user":                             {403, "user_refused_to_integration.json"},
		"POST /graphql":                         {200, "graphql_errors.json"},
		"GET " + repo + "/issues/1347/comments": {200, "comments_app.json"},
		"PATCH " + repo + "/issues/comments/7":  {200, "comment_app.json"},
	})
	c := newTestClient(t, GitHub, srv.URL, "octocat/Hello-World")
	ctx := t.Context()

	t.Run("own login unknown: nothing edited or created", func(t *testing.T) {
		_, _, err := c.UpsertComment(ctx, 1347, "diff", "new diff")
		if err == nil || !strings.Contains(err.Error(), "own login") || !strings.Contains(err.Error(), "Resource not accessible by integration") {
			t.Fatalf("upsert without a known own login: %v", err)
		}
		if _, _, err := c.FindComment(ctx, 1347, "diff"); err == nil {
			t.Fatal("find without a known own login succeeded")
		}
		for _, call := range f.calls() {
			if strings.Contains(call, "/issues/") {
				t.Errorf("comment call %s made without knowing who Carina is", call)
			}
		}
	})
	t.Run("app bot login from GraphQL viewer", func(t *testing.T) {
		f.setRoute("POST /graphql", route{200, "graphql_viewer_app.json"}) // failures are not cached
		f.reset()
		cm, created, err := c.UpsertComment(ctx, 1347, "diff", "new diff")
		if err != nil || created || cm.ID != 7 || cm.Author != "carina-app[bot]" {
			t.Fatalf("upsert: %+v created=%v err=%v", cm, created, err)
		}
		want := []string{"GET /user", "POST /graphql", "GET " + repo + "/issues/1347/comments", "PATCH " + repo + "/issues/comments/7"}
		if d := cmp.Diff(want, f.calls()); d != "" {
			t.Errorf("calls (-want +got), other-app[bot]'s comment 6 must not be edited:\n%s", d)
		}
		q, _ := f.requests()[1].Body["query"].(string)
		if !strings.Contains(q, "viewer") || !strings.Contains(q, "login") {
			t.Errorf("graphql query %q", q)
		}
		f.reset()
		found, ok, err := c.FindComment(ctx, 1347, "diff")
		if err != nil || !ok || found.ID != 7 {
			t.Fatalf("find: %+v ok=%v err=%v", found, ok, err)
		}
		if d := cmp.Diff([]string{"GET " + repo + "/issues/1347/comments"}, f.calls()); d != "" {
			t.Errorf("the own login is learned once (-want +got):\n%s", d)
		}
	})
}

func TestGitHubGraphQLPath(t *testing.T) {
	for _, tt := range []struct{ base, want string }{
		{"", "/graphql"},            // https://api.github.com
		{"/api/v3", "/api/graphql"}, // GitHub Enterprise Server
		{"/ghe/api/v3", "/ghe/api/graphql"},
		{"/proxy", "/proxy/graphql"},
	} {
		if got := githubGraphQLPath(tt.base); got != tt.want {
			t.Errorf("githubGraphQLPath(%q) = %q, want %q", tt.base, got, tt.want)
		}
	}
}

func TestGitHubClientDocFixtureErrorHasNoToken(t *testing.T) {
	_, srv := newFakeForge(t, "github", map[string]route{
		"GET /repos/octocat/Hello-World/pulls": {401, "bad_credentials.json"},
	})
	c := newTestClient(t, GitHub, srv.URL+"/", "octocat/Hello-World")
	_, err := c.ListOpenPullRequests(t.Context())
	var api *APIError
	if !errors.As(err, &api) || api.StatusCode != 401 || api.Message != "Bad credentials" {
		t.Fatalf("want a 401 APIError with the forge's message, got %v", err)
	}
	if strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), "page=") {
		t.Errorf("error shows the token or the query: %v", err)
	}
}
