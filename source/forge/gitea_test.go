package forge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	giteatest "github.com/carina-gitops/carina/e2e/gitea"
	"github.com/carina-gitops/carina/source/webhook"
)

// startGitea starts a real Gitea for one test; its binary is built once
// and cached (make gitea).
func startGitea(t *testing.T) *giteatest.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real Gitea")
	}
	srv, err := giteatest.Start(context.Background(), giteatest.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Error(err)
		}
	})
	return srv
}

func giteaClient(t *testing.T, srv *giteatest.Server, repo giteatest.Repo) *Client {
	t.Helper()
	tok, err := srv.TokenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{Kind: Gitea, BaseURL: srv.APIURL(), Repo: repo.FullName, TokenFile: tok})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// giteaUserClient is a client with a new token of user u that has only
// scopes.
func giteaUserClient(t *testing.T, srv *giteatest.Server, repo giteatest.Repo, u giteatest.User, scopes ...string) *Client {
	t.Helper()
	body, err := json.Marshal(map[string]any{"name": "carina-" + strings.Join(scopes, "-"), "scopes": scopes})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.APIURL()+"/users/"+u.Name+"/tokens", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(u.Name, u.Password)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		SHA1 string `json:"sha1"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tok); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("token of %s with %v: %s %v", u.Name, scopes, resp.Status, err)
	}
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(tok.SHA1), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{Kind: Gitea, BaseURL: srv.APIURL(), Repo: repo.FullName, TokenFile: path})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGiteaClientAgainstRealGitea(t *testing.T) {
	srv := startGitea(t)
	repo := srv.CreateRepo(t, "shop")
	head := srv.CommitFiles(t, repo, "main", "feature", map[string]string{"app.yaml": "name: shop\n"}, "add the app")
	pr := srv.OpenPR(t, repo, "feature", "main", "Add the shop", "first")
	srv.AddLabel(t, repo, pr.Number, "preview")
	c := giteaClient(t, srv, repo)
	ctx := t.Context()

	t.Run("list open pull requests", func(t *testing.T) {
		got, err := c.ListOpenPullRequests(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []PullRequest{{Number: pr.Number, Title: "Add the shop", Author: giteatest.AdminUser, HeadBranch: "feature",
			HeadSHA: head, BaseBranch: "main", Labels: []string{"preview"}, URL: got[0].URL}}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("(-want +got):\n%s", d)
		}
	})
	t.Run("commit statuses and the combined state", func(t *testing.T) {
		preview := Status{Context: StatusContext("preview"), State: StatePending, Description: "deploying", TargetURL: "http://127.0.0.1:1/api/v1/apps/shop"}
		if err := c.SetStatus(ctx, head, preview); err != nil {
			t.Fatal(err)
		}
		comb, err := c.CombinedStatus(ctx, head)
		if err != nil || comb.State != StatePending {
			t.Fatalf("combined after pending: %+v %v", comb, err)
		}
		preview.State, preview.Description = StateSuccess, "deployed"
		if err := c.SetStatus(ctx, head, preview); err != nil {
			t.Fatal(err)
		}
		comb, err = c.CombinedStatus(ctx, head)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(CombinedStatus{State: StateSuccess, Statuses: []Status{preview}}, comb); d != "" {
			t.Errorf("combined after success (-want +got):\n%s", d)
		}
		if err := c.SetStatus(ctx, head, Status{Context: StatusContext("prod"), State: StateFailure, Description: "apply failed"}); err != nil {
			t.Fatal(err)
		}
		if comb, err = c.CombinedStatus(ctx, head); err != nil || comb.State != StateFailure || len(comb.Statuses) != 2 {
			t.Errorf("combined with a failure: %+v %v", comb, err)
		}
	})
	t.Run("one comment per key, updated in place", func(t *testing.T) {
		first, created, err := c.UpsertComment(ctx, pr.Number, "diff", "## staging\n1 changed")
		if err != nil || !created {
			t.Fatalf("first: %+v created=%v %v", first, created, err)
		}
		if _, err := srv.Do(ctx, http.MethodPost, fmt.Sprintf("/repos/%s/issues/%d/comments", repo.FullName, pr.Number),
			map[string]string{"body": "a person's comment"}, nil); err != nil {
			t.Fatal(err)
		}
		second, created, err := c.UpsertComment(ctx, pr.Number, "diff", "## staging\n2 changed")
		if err != nil || created || second.ID != first.ID {
			t.Fatalf("second: %+v created=%v %v, want comment %d updated", second, created, err, first.ID)
		}
		if _, created, err := c.UpsertComment(ctx, pr.Number, "diff", "## staging\n2 changed"); err != nil || created {
			t.Fatalf("same body again: created=%v %v", created, err)
		}
		var all []struct {
			ID   int64  `json:"id"`
			Body string `json:"body"`
		}
		if _, err := srv.Do(ctx, http.MethodGet, fmt.Sprintf("/repos/%s/issues/%d/comments", repo.FullName, pr.Number), nil, &all); err != nil {
			t.Fatal(err)
		}
		var ours []string
		for _, cm := range all {
			if strings.Contains(cm.Body, Marker("diff")) {
				ours = append(ours, cm.Body)
			}
		}
		if d := cmp.Diff([]string{Marker("diff") + "\n## staging\n2 changed"}, ours); d != "" || len(all) != 2 {
			t.Errorf("comments with the marker (-want +got):\n%s\nall: %d", d, len(all))
		}
		restarted := giteaClient(t, srv, repo) // as after an agent restart
		found, ok, err := restarted.FindComment(ctx, pr.Number, "diff")
		if err != nil || !ok || found.ID != first.ID || !strings.HasSuffix(found.Body, "2 changed") {
			t.Errorf("FindComment = %+v, %v, %v; want comment %d with the last body", found, ok, err, first.ID)
		}
		if _, ok, err := restarted.FindComment(ctx, pr.Number, "other"); err != nil || ok {
			t.Errorf("FindComment of another key = %v, %v; want none", ok, err)
		}
	})
	t.Run("a marker comment by another user is left alone", func(t *testing.T) {
		srv.CommitFiles(t, repo, "main", "feature2", map[string]string{"b.yaml": "name: b\n"}, "add b")
		pr2 := srv.OpenPR(t, repo, "feature2", "main", "Add b", "")
		mallory, err := srv.CreateUser(ctx, "mallory", repo)
		if err != nil {
			t.Fatal(err)
		}
		const forged = "<!-- carina:diff -->\nnothing changes, merge it"
		var theirs giteaComment
		if _, err := srv.DoAs(ctx, mallory.Token, http.MethodPost, fmt.Sprintf("/repos/%s/issues/%d/comments", repo.FullName, pr2.Number),
			map[string]string{"body": forged}, &theirs); err != nil {
			t.Fatal(err)
		}
		if found, ok, err := c.FindComment(ctx, pr2.Number, "diff"); err != nil || ok {
			t.Fatalf("FindComment returned mallory's comment as Carina's: %+v, %v, %v", found, ok, err)
		}
		ours, created, err := c.UpsertComment(ctx, pr2.Number, "diff", "## staging\n1 changed")
		if err != nil || !created || ours.ID == theirs.ID || ours.Author != giteatest.AdminUser {
			t.Fatalf("UpsertComment = %+v, created=%v, %v; want a new comment of %s", ours, created, err, giteatest.AdminUser)
		}
		again, created, err := c.UpsertComment(ctx, pr2.Number, "diff", "## staging\n2 changed")
		if err != nil || created || again.ID != ours.ID {
			t.Fatalf("second UpsertComment = %+v, created=%v, %v; want comment %d updated", again, created, err, ours.ID)
		}
		var now giteaComment
		if _, err := srv.Do(ctx, http.MethodGet, fmt.Sprintf("/repos/%s/issues/comments/%d", repo.FullName, theirs.ID), nil, &now); err != nil {
			t.Fatal(err)
		}
		if now.Body != forged {
			t.Errorf("mallory's comment was changed to %q", now.Body)
		}
		found, ok, err := giteaClient(t, srv, repo).FindComment(ctx, pr2.Number, "diff")
		if err != nil || !ok || found.ID != ours.ID || found.Author != giteatest.AdminUser {
			t.Errorf("FindComment after a restart = %+v, %v, %v; want comment %d", found, ok, err, ours.ID)
		}

		// A token of the documented scopes, without read:user, cannot
		// learn whose it is: nothing is posted or edited.
		bot, err := srv.CreateUser(ctx, "scoped-bot", repo)
		if err != nil {
			t.Fatal(err)
		}
		narrow := giteaUserClient(t, srv, repo, bot, "write:repository", "write:issue")
		if _, _, err := narrow.UpsertComment(ctx, pr2.Number, "diff", "x"); err == nil || !strings.Contains(err.Error(), "GET /user: 403") || !strings.Contains(err.Error(), "read:user") {
			t.Errorf("UpsertComment with a token without read:user: %v, want GET /user refused and the scope named", err)
		}
		full := giteaUserClient(t, srv, repo, bot, "write:repository", "write:issue", "read:user")
		botOwn, created, err := full.UpsertComment(ctx, pr2.Number, "diff", "## staging\n3 changed")
		if err != nil || !created || botOwn.Author != "scoped-bot" {
			t.Fatalf("UpsertComment with read:user = %+v, created=%v, %v; want scoped-bot's own comment", botOwn, created, err)
		}
		var all []giteaComment
		if _, err := srv.Do(ctx, http.MethodGet, fmt.Sprintf("/repos/%s/issues/%d/comments", repo.FullName, pr2.Number), nil, &all); err != nil {
			t.Fatal(err)
		}
		got := map[int64]string{}
		for _, cm := range all {
			got[cm.ID] = cm.Body
		}
		want := map[int64]string{theirs.ID: forged, ours.ID: Marker("diff") + "\n## staging\n2 changed", botOwn.ID: Marker("diff") + "\n## staging\n3 changed"}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("comments of pull request %d (-want +got):\n%s", pr2.Number, d)
		}
	})
	t.Run("open or update is idempotent across two clients", func(t *testing.T) {
		srv.CommitFiles(t, repo, "main", "carina/promote/shop-prod", map[string]string{"environments/prod.yaml": "revision: " + head + "\n"}, "pin prod")
		spec := PullRequestSpec{Head: "carina/promote/shop-prod", Base: "main", Title: "Promote shop to prod", Body: "run 1"}
		first, created, err := c.OpenOrUpdatePullRequest(ctx, spec)
		if err != nil || !created {
			t.Fatalf("first run: %+v created=%v %v", first, created, err)
		}
		restarted := giteaClient(t, srv, repo) // as after an agent restart
		spec.Body = "run 2"
		second, created, err := restarted.OpenOrUpdatePullRequest(ctx, spec)
		if err != nil || created || second.Number != first.Number {
			t.Fatalf("second run: %+v created=%v %v, want #%d updated", second, created, err, first.Number)
		}
		var n int
		for _, p := range srv.ListPRs(t, repo, "open") {
			if p.Head.Ref == spec.Head {
				n++
				if p.Body != "run 2" {
					t.Errorf("body %q, want the second run's", p.Body)
				}
			}
		}
		if n != 1 {
			t.Errorf("%d open pull requests for %s, want 1", n, spec.Head)
		}
	})
	t.Run("merge", func(t *testing.T) {
		if err := c.Merge(ctx, pr.Number, head); err != nil {
			t.Fatal(err)
		}
		if got := srv.GetPR(t, repo, pr.Number); !got.Merged {
			t.Errorf("pull request %d not merged: %+v", pr.Number, got)
		}
		open, err := c.ListOpenPullRequests(ctx)
		if err != nil || slices.ContainsFunc(open, func(p PullRequest) bool { return p.Number == pr.Number }) {
			t.Errorf("merged pull request still listed as open: %v %v", open, err)
		}
	})
	t.Run("errors never show the token", func(t *testing.T) {
		_, err := c.GetPullRequest(ctx, 9999)
		if err == nil || strings.Contains(err.Error(), srv.Token) {
			t.Errorf("missing pull request: %v", err)
		}
	})
}

// hookDelivery is one webhook accepted by source/webhook's handler, with
// the body it was parsed from.
type hookDelivery struct {
	res  webhook.Result
	body []byte
}

func TestGiteaWebhookSignedAndParsed(t *testing.T) {
	srv := startGitea(t)
	repo := srv.CreateRepo(t, "hooks")
	const secret = "hook-secret-123"
	q := webhook.NewQueue(func(context.Context, webhook.Event) {}, webhook.DefaultQueueOptions())
	got := make(chan hookDelivery, 16)
	var (
		mu      sync.Mutex // one request at a time, so OnResult sees its body
		current []byte
	)
	opts := webhook.DefaultOptions(webhook.Gitea)
	opts.Secret = []byte(secret)
	opts.OnResult = func(res webhook.Result) {
		if res.Event != nil && res.Event.Kind == webhook.KindPullRequest {
			got <- hookDelivery{res: res, body: current}
		}
	}
	h, err := webhook.NewHandler(q, opts)
	if err != nil {
		t.Fatal(err)
	}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		current, _ = io.ReadAll(io.LimitReader(r.Body, webhook.MaxBodyBytes))
		r.Body = io.NopCloser(bytes.NewReader(current))
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(recv.Close)
	srv.AddWebhook(t, repo, recv.URL+"/hooks/gitea", secret, "pull_request", "pull_request_sync")

	head := srv.CommitFiles(t, repo, "main", "feature", map[string]string{"a.txt": "a\n"}, "change")
	began := time.Now()
	pr := srv.OpenPR(t, repo, "feature", "main", "Try a preview", "")
	var d hookDelivery
	select {
	case d = <-got:
	case <-time.After(20 * time.Second):
		t.Fatalf("no pull_request webhook within 20s; gitea log:\n%s", srv.Logs(20))
	}
	t.Logf("pull_request webhook arrived %s after the pull request was opened", time.Since(began).Round(time.Millisecond))
	if d.res.Outcome != webhook.OutcomeAccepted || d.res.Status != http.StatusAccepted {
		t.Fatalf("webhook answered %s %d: %v", d.res.Outcome, d.res.Status, d.res.Err)
	}
	ev := d.res.Event
	want := webhook.PullRequest{Number: pr.Number, Action: webhook.ActionOpened, HeadRef: "refs/heads/feature", HeadSHA: head,
		BaseRef: "refs/heads/main", BaseSHA: ev.PullRequest.BaseSHA, HeadRepos: ev.PullRequest.HeadRepos}
	if diff := cmp.Diff(want, *ev.PullRequest); diff != "" {
		t.Errorf("pull request of the event (-want +got):\n%s", diff)
	}
	if !slices.Contains(ev.Repos, repo.CloneURL) {
		t.Errorf("event repos %v lack %s", ev.Repos, repo.CloneURL)
	}
	details, err := webhook.ParsePullRequestDetails(webhook.Gitea, "pull_request", d.body)
	if err != nil {
		t.Fatal(err)
	}
	wantDetails := webhook.PullRequestDetails{Number: pr.Number, Action: webhook.ActionOpened, HeadSHA: head, HeadBranch: "feature",
		BaseBranch: "main", Author: giteatest.AdminUser, Title: "Try a preview"}
	if diff := cmp.Diff(wantDetails, details); diff != "" {
		t.Errorf("details (-want +got):\n%s", diff)
	}

	next := func(action webhook.Action) webhook.PullRequest {
		t.Helper()
		for {
			select {
			case d := <-got:
				if d.res.Event.PullRequest.Action == action {
					return *d.res.Event.PullRequest
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("no %s webhook within 20s; gitea log:\n%s", action, srv.Logs(20))
			}
		}
	}

	// A push to the pull request's branch with the git command line.
	dir := srv.Clone(t, repo)
	srv.Git(t, dir, "checkout", "-q", "feature")
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv.Git(t, dir, "commit", "-qam", "push to the pull request")
	pushed := srv.PushBranch(t, repo, dir, "feature")
	if sync := next(webhook.ActionSynchronized); sync.HeadSHA != pushed || sync.Number != pr.Number {
		t.Errorf("synchronized event %+v, want head %s", sync, pushed)
	}
	srv.ClosePR(t, repo, pr.Number)
	if closed := next(webhook.ActionClosed); closed.Number != pr.Number {
		t.Errorf("closed event %+v", closed)
	}
}
