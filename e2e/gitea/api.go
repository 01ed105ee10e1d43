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
	Head   struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	} `json:"head"`
	MergeCommitSHA string `json:"merge_commit_sha"`
}

// Do calls the REST API as the admin: method, a path under /api/v1, and a
// body marshalled as JSON (nil for none). It decodes a 2xx answer into out
// (when not nil) and returns the status code; other codes are errors.
func (s *Server) Do(ctx context.Context, method, path string, body, out any) (int, error) {
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
	req.Header.Set("Authorization", "token "+s.Token)
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

func (s *Server) must(tb testing.TB, method, path string, body, out any) {
	tb.Helper()
	if _, err := s.Do(tb.Context(), method, path, body, out); err != nil {
		tb.Fatal(err)
	}
}

// CreateRepo creates a public repository of the admin with one commit (a
// README) on main.
func (s *Server) CreateRepo(tb testing.TB, name string) Repo {
	tb.Helper()
	var r Repo
	s.must(tb, http.MethodPost, "/user/repos", map[string]any{
		"name": name, "auto_init": true, "default_branch": "main", "readme": "Default",
	}, &r)
	r.Owner = AdminUser
	return r
}

// CommitFiles writes files (path to content) as one commit on branch, or
// on a new branch newBranch started from branch when newBranch is not "",
// and returns the commit id. The commit is made by Gitea itself.
func (s *Server) CommitFiles(tb testing.TB, r Repo, branch, newBranch string, files map[string]string, msg string) string {
	tb.Helper()
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
	s.must(tb, http.MethodPost, "/repos/"+r.path()+"/contents", body, &resp)
	if resp.Commit.SHA == "" {
		tb.Fatalf("gitea: commit to %s returned no id", r.FullName)
	}
	return resp.Commit.SHA
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

// WaitBranch polls until branch of r points at sha ("" for any commit).
func (s *Server) WaitBranch(tb testing.TB, r Repo, branch, sha string) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var b struct {
			Commit struct {
				ID string `json:"id"`
			} `json:"commit"`
		}
		_, err := s.Do(tb.Context(), http.MethodGet, "/repos/"+r.path()+"/branches/"+url.PathEscape(branch), nil, &b)
		if err == nil && (sha == "" || b.Commit.ID == sha) {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("gitea: branch %s of %s not at %s after 30s (last error: %v)", branch, r.FullName, sha, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// OpenPR opens a pull request from head to base, after waiting for head.
func (s *Server) OpenPR(tb testing.TB, r Repo, head, base, title, body string) PR {
	tb.Helper()
	s.WaitBranch(tb, r, head, "")
	var pr PR
	s.must(tb, http.MethodPost, "/repos/"+r.path()+"/pulls", map[string]any{
		"head": head, "base": base, "title": title, "body": body,
	}, &pr)
	return pr
}

// GetPR reads a pull request.
func (s *Server) GetPR(tb testing.TB, r Repo, number int) PR {
	tb.Helper()
	var pr PR
	s.must(tb, http.MethodGet, fmt.Sprintf("/repos/%s/pulls/%d", r.path(), number), nil, &pr)
	return pr
}

// ListPRs lists the pull requests of r in state (open, closed or all).
func (s *Server) ListPRs(tb testing.TB, r Repo, state string) []PR {
	tb.Helper()
	var prs []PR
	s.must(tb, http.MethodGet, fmt.Sprintf("/repos/%s/pulls?state=%s&limit=50", r.path(), state), nil, &prs)
	return prs
}

// ClosePR closes a pull request without merging it.
func (s *Server) ClosePR(tb testing.TB, r Repo, number int) {
	tb.Helper()
	s.must(tb, http.MethodPatch, fmt.Sprintf("/repos/%s/pulls/%d", r.path(), number), map[string]any{"state": "closed"}, nil)
}

// MergePR merges a pull request with a merge commit.
func (s *Server) MergePR(tb testing.TB, r Repo, number int) {
	tb.Helper()
	s.must(tb, http.MethodPost, fmt.Sprintf("/repos/%s/pulls/%d/merge", r.path(), number), map[string]any{"Do": "merge"}, nil)
}

// AddLabel creates the label name in r when missing and puts it on the
// issue or pull request number.
func (s *Server) AddLabel(tb testing.TB, r Repo, number int, name string) {
	tb.Helper()
	var label struct {
		ID int64 `json:"id"`
	}
	s.must(tb, http.MethodPost, "/repos/"+r.path()+"/labels", map[string]any{"name": name, "color": "#00aabb"}, &label)
	s.must(tb, http.MethodPost, fmt.Sprintf("/repos/%s/issues/%d/labels", r.path(), number), map[string]any{"labels": []int64{label.ID}}, nil)
}

// AddWebhook adds a Gitea webhook to r that posts JSON for events (for
// example "push", "pull_request") to target, signed with secret.
func (s *Server) AddWebhook(tb testing.TB, r Repo, target, secret string, events ...string) {
	tb.Helper()
	s.must(tb, http.MethodPost, "/repos/"+r.path()+"/hooks", map[string]any{
		"type": "gitea", "active": true, "events": events, "branch_filter": "*",
		"config": map[string]string{"url": target, "content_type": "json", "secret": secret},
	}, nil)
}

func (r Repo) path() string { return url.PathEscape(r.Owner) + "/" + url.PathEscape(r.Name) }
