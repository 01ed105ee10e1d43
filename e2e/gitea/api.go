package gitea

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// Repo is a repository on the test server.
type Repo struct {
	ID       int64  `json:"id"`
	Owner    string `json:"-"`
	Name     string `json:"name"`
	FullName string `json:"full_name"`
	CloneURL string `json:"clone_url"`
	HTMLURL  string `json:"html_url"`
}

// PR is the part of a pull request the helpers return.
type PR struct {
	Number int    `json:"number"`
	State  string `json:"state"`
	Merged bool   `json:"merged"`
	Title  string `json:"title"`
	Body   string `json:"body"`
	// HTMLURL is the pull request's page.
	HTMLURL string `json:"html_url"`
	User    struct {
		Login string `json:"login"`
	} `json:"user"`
	Head struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	} `json:"head"`
	MergeCommitSHA string `json:"merge_commit_sha"`
}

// Do calls the REST API as the admin: method, a path under /api/v1, and a
// body marshalled as JSON (nil for none). It decodes a 2xx answer into out
// (when not nil) and returns the status code; other codes are errors.
func (s *Server) Do(ctx context.Context, method, path string, body, out any) (int, error) {
	return s.DoAs(ctx, s.Token, method, path, body, out)
}

// DoAs is Do with another user's token.
func (s *Server) DoAs(ctx context.Context, token, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.APIURL()+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "token "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, fmt.Errorf("gitea %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("gitea %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("gitea %s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// The methods below come in two forms: one that takes a context and
// returns an error (for programs such as make demo-forge), and one that
// takes a testing.TB and fails the test.

func mustDo(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func (s *Server) do(ctx context.Context, method, path string, body, out any) error {
	_, err := s.Do(ctx, method, path, body, out)
	return err
}

// NewRepo creates a public repository of the admin with one commit (a
// README) on main.
func (s *Server) NewRepo(ctx context.Context, name string) (Repo, error) {
	var r Repo
	err := s.do(ctx, http.MethodPost, "/user/repos", map[string]any{
		"name": name, "auto_init": true, "default_branch": "main", "readme": "Default",
	}, &r)
	r.Owner = AdminUser
	return r, err
}

// CreateRepo is NewRepo for a test.
func (s *Server) CreateRepo(tb testing.TB, name string) Repo {
	tb.Helper()
	v, err := s.NewRepo(tb.Context(), name)
	mustDo(tb, err)
	return v
}

// Commit writes files (path to content) as one commit on branch, or on a
// new branch newBranch started from branch when newBranch is not "", and
// returns the commit id. The commit is made by Gitea itself.
func (s *Server) Commit(ctx context.Context, r Repo, branch, newBranch string, files map[string]string, msg string) (string, error) {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	var ops []map[string]string
	for _, p := range paths {
		ops = append(ops, map[string]string{"operation": "upload", "path": p,
			"content": base64.StdEncoding.EncodeToString([]byte(files[p]))})
	}
	body := map[string]any{"branch": branch, "message": msg, "files": ops}
	if newBranch != "" {
		body["new_branch"] = newBranch
	}
	var resp struct {
		Commit struct {
			SHA string `json:"sha"`
		} `json:"commit"`
	}
	if err := s.do(ctx, http.MethodPost, "/repos/"+r.path()+"/contents", body, &resp); err != nil {
		return "", err
	}
	if resp.Commit.SHA == "" {
		return "", fmt.Errorf("gitea: commit to %s returned no id", r.FullName)
	}
	return resp.Commit.SHA, nil
}

// CommitFiles is Commit for a test.
func (s *Server) CommitFiles(tb testing.TB, r Repo, branch, newBranch string, files map[string]string, msg string) string {
	tb.Helper()
	v, err := s.Commit(tb.Context(), r, branch, newBranch, files, msg)
	mustDo(tb, err)
	return v
}

// PushBranch pushes HEAD of the local work tree dir to branch of r with
// the git command line (test code only; the product never runs git), then
// waits until Gitea lists the branch at that commit: right after a push,
// opening a pull request can fail with 404 until the branch is indexed.
func (s *Server) PushBranch(tb testing.TB, r Repo, dir, branch string) string {
	tb.Helper()
	head := strings.TrimSpace(s.Git(tb, dir, "rev-parse", "HEAD"))
	s.Git(tb, dir, "push", "--force", r.CloneURL, "HEAD:refs/heads/"+branch)
	s.WaitBranch(tb, r, branch, head)
	return head
}

// Clone clones r into a new temporary directory with the git command line
// (test code only) and returns the directory.
func (s *Server) Clone(tb testing.TB, r Repo) string {
	tb.Helper()
	dir := tb.TempDir()
	s.Git(tb, dir, "clone", "--quiet", r.CloneURL, ".")
	s.Git(tb, dir, "config", "user.name", "Carina Test")
	s.Git(tb, dir, "config", "user.email", "test@example.invalid")
	return dir
}

// Git runs the git command line in dir (test code only) with the admin's
// token as a basic-auth header, so that the token is in neither the URL
// nor the repository's config, and returns its output.
func (s *Server) Git(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	auth := base64.StdEncoding.EncodeToString([]byte(AdminUser + ":" + s.Token))
	full := append([]string{"-c", "http.extraHeader=Authorization: Basic " + auth}, args...)
	cmd := exec.CommandContext(tb.Context(), "git", full...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Carina Test", "GIT_AUTHOR_EMAIL=test@example.invalid",
		"GIT_COMMITTER_NAME=Carina Test", "GIT_COMMITTER_EMAIL=test@example.invalid")
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("git %s: %v\n%s", args[0], err, strings.ReplaceAll(string(out), s.Token, "***"))
	}
	return string(out)
}

// AwaitBranch polls until branch of r points at sha ("" for any commit),
// for at most 30 s.
func (s *Server) AwaitBranch(ctx context.Context, r Repo, branch, sha string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var b struct {
			Commit struct {
				ID string `json:"id"`
			} `json:"commit"`
		}
		err := s.do(ctx, http.MethodGet, "/repos/"+r.path()+"/branches/"+url.PathEscape(branch), nil, &b)
		if err == nil && (sha == "" || b.Commit.ID == sha) {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("gitea: branch %s of %s not at %s after 30s (last error: %v)", branch, r.FullName, sha, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitBranch is AwaitBranch for a test.
func (s *Server) WaitBranch(tb testing.TB, r Repo, branch, sha string) {
	tb.Helper()
	mustDo(tb, s.AwaitBranch(tb.Context(), r, branch, sha))
}

// OpenPullRequest opens a pull request from head to base as the user of
// token ("" for the admin), after waiting for head.
func (s *Server) OpenPullRequest(ctx context.Context, token string, r Repo, head, base, title, body string) (PR, error) {
	if err := s.AwaitBranch(ctx, r, head, ""); err != nil {
		return PR{}, err
	}
	if token == "" {
		token = s.Token
	}
	var pr PR
	_, err := s.DoAs(ctx, token, http.MethodPost, "/repos/"+r.path()+"/pulls", map[string]any{
		"head": head, "base": base, "title": title, "body": body,
	}, &pr)
	return pr, err
}

// OpenPR opens a pull request from head to base as the admin, after
// waiting for head.
func (s *Server) OpenPR(tb testing.TB, r Repo, head, base, title, body string) PR {
	tb.Helper()
	v, err := s.OpenPullRequest(tb.Context(), "", r, head, base, title, body)
	mustDo(tb, err)
	return v
}

// PullRequest reads a pull request.
func (s *Server) PullRequest(ctx context.Context, r Repo, number int) (PR, error) {
	var pr PR
	err := s.do(ctx, http.MethodGet, fmt.Sprintf("/repos/%s/pulls/%d", r.path(), number), nil, &pr)
	return pr, err
}

// GetPR is PullRequest for a test.
func (s *Server) GetPR(tb testing.TB, r Repo, number int) PR {
	tb.Helper()
	v, err := s.PullRequest(tb.Context(), r, number)
	mustDo(tb, err)
	return v
}

// PullRequests lists the pull requests of r in state (open, closed or
// all).
func (s *Server) PullRequests(ctx context.Context, r Repo, state string) ([]PR, error) {
	var prs []PR
	err := s.do(ctx, http.MethodGet, fmt.Sprintf("/repos/%s/pulls?state=%s&limit=50", r.path(), state), nil, &prs)
	return prs, err
}

// ListPRs is PullRequests for a test.
func (s *Server) ListPRs(tb testing.TB, r Repo, state string) []PR {
	tb.Helper()
	v, err := s.PullRequests(tb.Context(), r, state)
	mustDo(tb, err)
	return v
}

// ClosePullRequest closes a pull request without merging it.
func (s *Server) ClosePullRequest(ctx context.Context, r Repo, number int) error {
	return s.do(ctx, http.MethodPatch, fmt.Sprintf("/repos/%s/pulls/%d", r.path(), number), map[string]any{"state": "closed"}, nil)
}

// ClosePR is ClosePullRequest for a test.
func (s *Server) ClosePR(tb testing.TB, r Repo, number int) {
	tb.Helper()
	mustDo(tb, s.ClosePullRequest(tb.Context(), r, number))
}

// MergePullRequest merges a pull request with a merge commit, as the
// admin.
func (s *Server) MergePullRequest(ctx context.Context, r Repo, number int) error {
	return s.do(ctx, http.MethodPost, fmt.Sprintf("/repos/%s/pulls/%d/merge", r.path(), number), map[string]any{"Do": "merge"}, nil)
}

// MergePR is MergePullRequest for a test.
func (s *Server) MergePR(tb testing.TB, r Repo, number int) {
	tb.Helper()
	mustDo(tb, s.MergePullRequest(tb.Context(), r, number))
}

// AddLabel creates the label name in r when missing and puts it on the
// issue or pull request number.
func (s *Server) AddLabel(tb testing.TB, r Repo, number int, name string) {
	tb.Helper()
	var label struct {
		ID int64 `json:"id"`
	}
	mustDo(tb, s.do(tb.Context(), http.MethodPost, "/repos/"+r.path()+"/labels", map[string]any{"name": name, "color": "#00aabb"}, &label))
	mustDo(tb, s.do(tb.Context(), http.MethodPost, fmt.Sprintf("/repos/%s/issues/%d/labels", r.path(), number), map[string]any{"labels": []int64{label.ID}}, nil))
}

// CreateWebhook adds a Gitea webhook to r that posts JSON for events (for
// example "push", "pull_request") to target, signed with secret.
func (s *Server) CreateWebhook(ctx context.Context, r Repo, target, secret string, events ...string) error {
	return s.do(ctx, http.MethodPost, "/repos/"+r.path()+"/hooks", map[string]any{
		"type": "gitea", "active": true, "events": events, "branch_filter": "*",
		"config": map[string]string{"url": target, "content_type": "json", "secret": secret},
	}, nil)
}

// AddWebhook is CreateWebhook for a test.
func (s *Server) AddWebhook(tb testing.TB, r Repo, target, secret string, events ...string) {
	tb.Helper()
	mustDo(tb, s.CreateWebhook(tb.Context(), r, target, secret, events...))
}

// User is a user created on the test server, with an API token of all
// scopes.
type User struct {
	Name, Password, Token string
}

// CreateUser creates a user (not an admin) with a password and an API
// token of all scopes, and makes it a collaborator with write access of
// repos.
func (s *Server) CreateUser(ctx context.Context, name string, repos ...Repo) (User, error) {
	u := User{Name: name, Password: randomHex(24)}
	if err := s.do(ctx, http.MethodPost, "/admin/users", map[string]any{
		"username": name, "email": name + "@example.invalid", "password": u.Password, "must_change_password": false,
	}, nil); err != nil {
		return User{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.APIURL()+"/users/"+url.PathEscape(name)+"/tokens",
		strings.NewReader(`{"name":"carina-demo","scopes":["all"]}`))
	if err != nil {
		return User{}, err
	}
	req.SetBasicAuth(name, u.Password)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return User{}, fmt.Errorf("gitea token of %s: %w", name, err)
	}
	defer resp.Body.Close()
	var tok struct {
		SHA1 string `json:"sha1"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tok); err != nil || resp.StatusCode != http.StatusCreated || tok.SHA1 == "" {
		return User{}, fmt.Errorf("gitea token of %s: %s (%v)", name, resp.Status, err)
	}
	u.Token = tok.SHA1
	for _, r := range repos {
		if err := s.do(ctx, http.MethodPut, "/repos/"+r.path()+"/collaborators/"+url.PathEscape(name), map[string]any{"permission": "write"}, nil); err != nil {
			return User{}, err
		}
	}
	return u, nil
}

func (r Repo) path() string { return url.PathEscape(r.Owner) + "/" + url.PathEscape(r.Name) }
