package forge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/carina-gitops/carina/internal/egress"
)

// Kind names a forge API.
type Kind string

// The forges this package speaks to.
const (
	GitHub Kind = "github"
	GitLab Kind = "gitlab"
	Gitea  Kind = "gitea" // also Forgejo
)

// Options configures a Client.
type Options struct {
	// Kind is the forge: github, gitlab or gitea.
	Kind Kind
	// BaseURL is the API root, for self-hosted forges:
	// https://api.github.com (GitHub Enterprise: https://HOST/api/v3),
	// https://gitlab.com/api/v4, https://gitea.example.com/api/v1.
	// Default: the public GitHub or GitLab API; required for Gitea.
	BaseURL string
	// Repo is the repository: "owner/name" (GitLab: the full project
	// path, "group/subgroup/project").
	Repo string
	// TokenFile holds the API token. Its value is never printed, logged
	// or put in an error.
	TokenFile string
	// Timeout bounds one API request. Default 15 s.
	Timeout time.Duration
	// MaxResponseBytes bounds one response body. Default 4 MiB.
	MaxResponseBytes int64
	// MaxPages bounds how many pages a listing reads. Default 20.
	MaxPages int
	// Transport is the HTTP transport; nil uses a clone of
	// http.DefaultTransport that connects only where Egress allows. An
	// *http.Transport given here gets Egress's dialer too; another
	// RoundTripper is used as it is.
	Transport http.RoundTripper
	// Egress decides which addresses the client may connect to, checked
	// at dial time (redirects included); nil is egress.Default().
	Egress *egress.Policy
}

// DefaultOptions returns the limits used when Options leaves them zero.
func DefaultOptions() Options {
	return Options{Timeout: 15 * time.Second, MaxResponseBytes: 4 << 20, MaxPages: 20}
}

// PullRequest is an open pull (or merge) request as the forge lists it.
type PullRequest struct {
	Number int    `json:"number"`
	Title  string `json:"title"`
	// Author is the login of the user who opened it.
	Author string `json:"author"`
	// HeadBranch and BaseBranch are branch names, without refs/heads/.
	HeadBranch string `json:"headBranch"`
	HeadSHA    string `json:"headSHA"`
	BaseBranch string `json:"baseBranch"`
	// Fork is true when the head branch lives in another repository
	// (or in one the forge no longer knows).
	Fork   bool     `json:"fork"`
	Labels []string `json:"labels,omitempty"`
	Draft  bool     `json:"draft,omitempty"`
	URL    string   `json:"url,omitempty"`
}

// State is the state of a commit status.
type State string

// The commit status states every forge understands. GitLab calls failure
// "failed"; the GitLab client maps it.
const (
	StatePending State = "pending"
	StateSuccess State = "success"
	StateFailure State = "failure"
	StateError   State = "error"
)

// Status is one commit status.
type Status struct {
	// Context names the check, "carina/<env>" (StatusContext).
	Context     string `json:"context"`
	State       State  `json:"state"`
	Description string `json:"description,omitempty"`
	// TargetURL links to the details, the agent's status API.
	TargetURL string `json:"targetURL,omitempty"`
}

// StatusContext is the context of Carina's commit status for an env.
func StatusContext(env string) string { return "carina/" + env }

// CombinedStatus is every check's latest status on a commit and their
// combination: failure if any failed or errored, pending if any is
// pending (or none exists), success otherwise.
type CombinedStatus struct {
	State    State    `json:"state"`
	Statuses []Status `json:"statuses"`
}

// Comment is a comment on a pull request.
type Comment struct {
	ID   int64  `json:"id"`
	Body string `json:"body"`
	URL  string `json:"url,omitempty"`
	// Author is the login of the account that wrote it (GitHub and
	// Gitea user.login, GitLab author.username). Carina's comments are
	// those with its marker whose author is the token's own account.
	Author string `json:"author,omitempty"`
}

// PullRequestSpec is the pull request OpenOrUpdatePullRequest wants.
type PullRequestSpec struct {
	// Head is the branch with the change, Base the branch to merge into.
	Head, Base  string
	Title, Body string
}

// provider is one forge's REST API.
type provider interface {
	listOpen(ctx context.Context) ([]PullRequest, error)
	getPR(ctx context.Context, number int) (PullRequest, error)
	createPR(ctx context.Context, spec PullRequestSpec) (PullRequest, error)
	updatePR(ctx context.Context, number int, spec PullRequestSpec) (PullRequest, error)
	merge(ctx context.Context, number int, sha string) error
	setStatus(ctx context.Context, sha string, st Status) error
	statuses(ctx context.Context, ref string) ([]Status, error)
	comments(ctx context.Context, number int) ([]Comment, error)
	createComment(ctx context.Context, number int, body string) (Comment, error)
	editComment(ctx context.Context, number int, id int64, body string) (Comment, error)
	// currentUser is the login of the token's own account.
	currentUser(ctx context.Context) (string, error)
}

// Client talks to one repository on one forge. It is safe for concurrent
// use; comment and pull request upserts are serialized so that two calls
// never create two.
type Client struct {
	kind Kind
	repo string
	api  provider
	mu   sync.Mutex // serializes the find-then-create operations

	meMu sync.Mutex // guards me
	me   string     // the token's own login, once learned (ownLogin)
}

// New returns a client for opts.Repo. It reads the token file once.
func New(opts Options) (*Client, error) {
	d := DefaultOptions()
	if opts.Timeout <= 0 {
		opts.Timeout = d.Timeout
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = d.MaxResponseBytes
	}
	if opts.MaxPages <= 0 {
		opts.MaxPages = d.MaxPages
	}
	if err := checkRepo(opts.Kind, opts.Repo); err != nil {
		return nil, err
	}
	base, err := baseURL(opts.Kind, opts.BaseURL)
	if err != nil {
		return nil, err
	}
	token, err := readToken(opts.TokenFile)
	if err != nil {
		return nil, err
	}
	h := newHTTP(opts, base, token)
	c := &Client{kind: opts.Kind, repo: opts.Repo}
	switch opts.Kind {
	case GitHub:
		c.api = &github{h: h, repo: opts.Repo}
	case GitLab:
		c.api = &gitlab{h: h, project: url.PathEscape(opts.Repo)}
	case Gitea:
		c.api = &gitea{h: h, repo: opts.Repo}
	}
	return c, nil
}

// Kind is the forge this client talks to.
func (c *Client) Kind() Kind { return c.kind }

// Repo is the repository this client talks to.
func (c *Client) Repo() string { return c.repo }

func checkRepo(k Kind, repo string) error {
	switch k {
	case GitHub, GitLab, Gitea:
	default:
		return fmt.Errorf("forge kind %q is not github, gitlab or gitea", k)
	}
	parts := strings.Split(repo, "/")
	if len(parts) < 2 || (k != GitLab && len(parts) != 2) {
		return fmt.Errorf("forge repo %q is not owner/name", repo)
	}
	for _, p := range parts {
		if p == "" || p == "." || p == ".." || len(p) > 255 || strings.ContainsAny(p, "?#%\\ \t\r\n") {
			return fmt.Errorf("forge repo %q is not owner/name", repo)
		}
	}
	return nil
}

func baseURL(k Kind, raw string) (*url.URL, error) {
	if raw == "" {
		switch k {
		case GitHub:
			raw = "https://api.github.com"
		case GitLab:
			raw = "https://gitlab.com/api/v4"
		default:
			return nil, errors.New("forge baseURL is required for gitea")
		}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("forge baseURL %q is not an http(s) URL", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("forge baseURL must not carry credentials, a query or a fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

// ListOpenPullRequests returns the open pull requests, oldest first as
// the forge pages them, up to MaxPages pages.
func (c *Client) ListOpenPullRequests(ctx context.Context) ([]PullRequest, error) {
	return c.api.listOpen(ctx)
}

// GetPullRequest reads one pull request.
func (c *Client) GetPullRequest(ctx context.Context, number int) (PullRequest, error) {
	return c.api.getPR(ctx, number)
}

// SetStatus creates or updates the commit status st.Context on sha: the
// latest status of a context is the one forges show.
func (c *Client) SetStatus(ctx context.Context, sha string, st Status) error {
	if !isSHA(sha) {
		return fmt.Errorf("commit status: %q is not a commit id", clip(sha, 80))
	}
	if st.Context == "" {
		return errors.New("commit status: context is empty")
	}
	switch st.State {
	case StatePending, StateSuccess, StateFailure, StateError:
	default:
		return fmt.Errorf("commit status: state %q is not pending, success, failure or error", st.State)
	}
	st.Description = clip(st.Description, 140) // GitHub's limit
	return c.api.setStatus(ctx, sha, st)
}

// CombinedStatus returns the latest status of every context on ref (a
// commit id; GitHub and Gitea also take a branch) and their combination.
func (c *Client) CombinedStatus(ctx context.Context, ref string) (CombinedStatus, error) {
	sts, err := c.api.statuses(ctx, ref)
	if err != nil {
		return CombinedStatus{}, err
	}
	return combine(sts), nil
}

// combine keeps the first status listed per context (forges list the
// newest first) and computes the overall state.
func combine(in []Status) CombinedStatus {
	out := CombinedStatus{State: StateSuccess}
	seen := map[string]bool{}
	for _, s := range in {
		if seen[s.Context] {
			continue
		}
		seen[s.Context] = true
		out.Statuses = append(out.Statuses, s)
		switch {
		case s.State == StateFailure || s.State == StateError:
			out.State = StateFailure
		case s.State != StateSuccess && out.State == StateSuccess:
			out.State = StatePending
		}
	}
	if len(out.Statuses) == 0 {
		out.State = StatePending
	}
	return out
}

// Merge merges pull request number, only if its head is still sha when
// sha is not "".
func (c *Client) Merge(ctx context.Context, number int, sha string) error {
	if sha != "" && !isSHA(sha) {
		return fmt.Errorf("merge: %q is not a commit id", clip(sha, 80))
	}
	return c.api.merge(ctx, number, sha)
}

func isSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
