package forge

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGitLabClientAgainstDocFixtures(t *testing.T) {
	const project = "/api/v4/projects/my-group%2Fmy-project"
	const sha = "18f3e63d05582537db6d183d9d557be09e1f90c8"
	f, srv := newFakeForge(t, "gitlab", map[string]route{
		"GET " + project + "/merge_requests":                                     {200, "merge_requests.json"},
		"POST " + project + "/merge_requests":                                    {201, "merge_request.json"},
		"PUT " + project + "/merge_requests/1":                                   {200, "merge_request.json"},
		"PUT " + project + "/merge_requests/1/merge":                             {200, "merge_request.json"},
		"POST " + project + "/statuses/" + sha:                                   {201, "created_status.json"},
		"GET " + project + "/repository/commits/" + sha + "/statuses":            {200, "statuses.json"},
		"GET " + project + "/merge_requests/1/notes":                             {200, "notes.json"},
		"POST " + project + "/merge_requests/1/notes":                            {201, "note.json"},
		"PUT " + project + "/merge_requests/1/notes/303":                         {200, "note.json"},
		"POST " + project + "/statuses/9999999999999999999999999999999999999999": {400, "transition.json"},
		"GET /api/v4/user": {200, "user.json"},
	})
	c := newTestClient(t, GitLab, srv.URL+"/api/v4", "my-group/my-project")
	ctx := t.Context()

	t.Run("list open merge requests", func(t *testing.T) {
		got, err := c.ListOpenPullRequests(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []PullRequest{
			{Number: 1, Title: "test1", Author: "admin", HeadBranch: "test1", HeadSHA: "8888888888888888888888888888888888888888",
				BaseBranch: "master", Labels: []string{"Community contribution", "Manage"}, URL: "http://gitlab.example.com/my-group/my-project/merge_requests/1"},
			{Number: 2, Title: "from a fork", Author: "someone", HeadBranch: "feature", HeadSHA: "9999999999999999999999999999999999999999",
				BaseBranch: "master", Fork: true, Draft: true, Labels: []string{}, URL: "http://gitlab.example.com/my-group/my-project/merge_requests/2"},
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("merge requests (-want +got):\n%s", d)
		}
		r := f.requests()[0]
		if r.Header.Get("PRIVATE-TOKEN") != testToken || r.Header.Get("Authorization") != "" {
			t.Errorf("auth headers: %v", r.Header)
		}
		if !strings.Contains(r.Query, "state=opened") {
			t.Errorf("query %q", r.Query)
		}
	})
	t.Run("commit status maps failure to failed and tolerates a repeated state", func(t *testing.T) {
		f.reset()
		if err := c.SetStatus(ctx, sha, Status{Context: "carina/prod", State: StateFailure, Description: "apply failed"}); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(map[string]any{"state": "failed", "name": "carina/prod", "description": "apply failed"}, f.requests()[0].Body); d != "" {
			t.Errorf("status body (-want +got):\n%s", d)
		}
		if err := c.SetStatus(ctx, "9999999999999999999999999999999999999999", Status{Context: "carina/prod", State: StatePending}); err != nil {
			t.Errorf("a status already in that state: %v", err)
		}
		comb, err := c.CombinedStatus(ctx, sha)
		if err != nil {
			t.Fatal(err)
		}
		want := CombinedStatus{State: StatePending, Statuses: []Status{
			{Context: "bundler:audit", State: StatePending, TargetURL: "https://gitlab.example.com/janedoe/gitlab-foss/builds/91"},
			{Context: "test", State: StateSuccess, TargetURL: "https://gitlab.example.com/janedoe/gitlab-foss/builds/90"},
		}}
		if d := cmp.Diff(want, comb); d != "" {
			t.Errorf("combined (-want +got):\n%s", d)
		}
	})
	t.Run("note created, then updated in place", func(t *testing.T) {
		f.reset()
		// Note 304 by pipin carries the marker: it is not Carina's.
		if cm, ok, err := c.FindComment(ctx, 1, "diff"); err != nil || ok {
			t.Fatalf("find returned pipin's note as Carina's: %+v ok=%v err=%v", cm, ok, err)
		}
		cm, created, err := c.UpsertComment(ctx, 1, "diff", "new diff")
		if err != nil || !created || cm.ID != 303 || cm.Author != "carina-bot" {
			t.Fatalf("first upsert: %+v created=%v err=%v", cm, created, err)
		}
		want := []string{"GET /api/v4/user", "GET " + project + "/merge_requests/1/notes", "GET " + project + "/merge_requests/1/notes", "POST " + project + "/merge_requests/1/notes"}
		if d := cmp.Diff(want, f.calls()); d != "" {
			t.Errorf("calls (-want +got), pipin's note 304 must not be edited:\n%s", d)
		}
		// The fake lists the documented notes again (no marker), so a
		// second run would create again; point it at a list with ours.
		f.setRoute("GET "+project+"/merge_requests/1/notes", route{200, "note_list_with_marker.json"})
		f.reset()
		cm, created, err = c.UpsertComment(ctx, 1, "diff", "newer diff")
		if err != nil || created || cm.ID != 303 {
			t.Fatalf("second upsert: %+v created=%v err=%v", cm, created, err)
		}
		if d := cmp.Diff([]string{"GET " + project + "/merge_requests/1/notes", "PUT " + project + "/merge_requests/1/notes/303"}, f.calls()); d != "" {
			t.Errorf("calls (-want +got):\n%s", d)
		}
		found, ok, err := c.FindComment(ctx, 1, "diff")
		if err != nil || !ok || found.ID != 303 || found.Author != "carina-bot" {
			t.Errorf("find: %+v ok=%v err=%v, want note 303", found, ok, err)
		}
	})
	t.Run("open or update merge request", func(t *testing.T) {
		f.reset()
		pr, created, err := c.OpenOrUpdatePullRequest(ctx, PullRequestSpec{Head: "carina/promote-shop-prod", Base: "master", Title: "Promote shop to prod", Body: "body"})
		if err != nil || !created || pr.Number != 3 {
			t.Fatalf("open: %+v created=%v err=%v", pr, created, err)
		}
		want := map[string]any{"source_branch": "carina/promote-shop-prod", "target_branch": "master", "title": "Promote shop to prod", "description": "body"}
		if d := cmp.Diff(want, f.requests()[1].Body); d != "" {
			t.Errorf("create body (-want +got):\n%s", d)
		}
		f.reset()
		if _, created, err = c.OpenOrUpdatePullRequest(ctx, PullRequestSpec{Head: "test1", Base: "master", Title: "t", Body: "b"}); err != nil || created {
			t.Fatalf("update: created=%v err=%v", created, err)
		}
		if d := cmp.Diff([]string{"GET " + project + "/merge_requests", "PUT " + project + "/merge_requests/1"}, f.calls()); d != "" {
			t.Errorf("calls (-want +got):\n%s", d)
		}
	})
	t.Run("merge", func(t *testing.T) {
		f.reset()
		if err := c.Merge(ctx, 1, "8888888888888888888888888888888888888888"); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(map[string]any{"sha": "8888888888888888888888888888888888888888"}, f.requests()[0].Body); d != "" {
			t.Errorf("merge body (-want +got):\n%s", d)
		}
	})
}

// A token that may not read its own user (GitLab answers 403
// insufficient_scope) leaves Carina unable to tell its notes from
// others': it edits and creates nothing.
func TestGitLabClientOwnUserRefusedAgainstDocFixtures(t *testing.T) {
	const project = "/api/v4/projects/my-group%2Fmy-project"
	f, srv := newFakeForge(t, "gitlab", map[string]route{
		"GET /api/v4/user":                            {403, "user_insufficient_scope.json"},
		"GET " + project + "/merge_requests/1/notes":  {200, "note_list_with_marker.json"},
		"POST " + project + "/merge_requests/1/notes": {201, "note.json"},
	})
	c := newTestClient(t, GitLab, srv.URL+"/api/v4", "my-group/my-project")
	_, _, err := c.UpsertComment(t.Context(), 1, "diff", "new diff")
	if err == nil || !strings.Contains(err.Error(), "read_user") || !strings.Contains(err.Error(), "403") {
		t.Fatalf("upsert: %v, want the refusal and the scope it needs", err)
	}
	if _, _, err := c.FindComment(t.Context(), 1, "diff"); err == nil {
		t.Fatal("find without a known own login succeeded")
	}
	if d := cmp.Diff([]string{"GET /api/v4/user", "GET /api/v4/user"}, f.calls()); d != "" {
		t.Errorf("calls (-want +got):\n%s", d)
	}
}
