package forge

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// gitea speaks Gitea's (and Forgejo's) API v1.
type gitea struct {
	h    *rest
	repo string // owner/name
}

// giteaPerPage is Gitea's default MAX_RESPONSE_ITEMS.
const giteaPerPage = 50

type giteaUser struct {
	Login string `json:"login"`
}

type giteaBranch struct {
	Ref    string `json:"ref"`
	SHA    string `json:"sha"`
	RepoID int64  `json:"repo_id"`
}

type giteaLabel struct {
	Name string `json:"name"`
}

type giteaPR struct {
	Number  int          `json:"number"`
	Title   string       `json:"title"`
	HTMLURL string       `json:"html_url"`
	Draft   bool         `json:"draft"`
	User    *giteaUser   `json:"user"`
	Labels  []giteaLabel `json:"labels"`
	Head    giteaBranch  `json:"head"`
	Base    giteaBranch  `json:"base"`
}

func (p giteaPR) pullRequest() PullRequest {
	out := PullRequest{
		Number: p.Number, Title: p.Title, URL: p.HTMLURL, Draft: p.Draft,
		HeadBranch: p.Head.Ref, HeadSHA: p.Head.SHA, BaseBranch: p.Base.Ref,
		Fork: p.Head.RepoID == 0 || p.Head.RepoID != p.Base.RepoID,
	}
	if p.User != nil {
		out.Author = p.User.Login
	}
	for _, l := range p.Labels {
		out.Labels = append(out.Labels, l.Name)
	}
	return out
}

func (g *gitea) path(format string, args ...any) string {
	return "/repos/" + g.repo + fmt.Sprintf(format, args...)
}

func (g *gitea) listOpen(ctx context.Context) ([]PullRequest, error) {
	prs, err := list[giteaPR](ctx, g.h, g.path("/pulls?state=open&sort=oldest&limit=%d", giteaPerPage), giteaPerPage)
	if err != nil {
		return nil, err
	}
	out := make([]PullRequest, len(prs))
	for i, p := range prs {
		out[i] = p.pullRequest()
	}
	return out, nil
}

func (g *gitea) getPR(ctx context.Context, number int) (PullRequest, error) {
	var p giteaPR
	_, err := g.h.do(ctx, http.MethodGet, g.path("/pulls/%d", number), nil, &p)
	return p.pullRequest(), err
}

func (g *gitea) createPR(ctx context.Context, spec PullRequestSpec) (PullRequest, error) {
	var p giteaPR
	_, err := g.h.do(ctx, http.MethodPost, g.path("/pulls"), map[string]string{
		"head": spec.Head, "base": spec.Base, "title": spec.Title, "body": spec.Body,
	}, &p)
	return p.pullRequest(), err
}

func (g *gitea) updatePR(ctx context.Context, number int, spec PullRequestSpec) (PullRequest, error) {
	var p giteaPR
	_, err := g.h.do(ctx, http.MethodPatch, g.path("/pulls/%d", number), map[string]string{
		"title": spec.Title, "body": spec.Body,
	}, &p)
	return p.pullRequest(), err
}

func (g *gitea) merge(ctx context.Context, number int, sha string) error {
	body := map[string]any{"Do": "merge"}
	if sha != "" {
		body["head_commit_id"] = sha
	}
	_, err := g.h.do(ctx, http.MethodPost, g.path("/pulls/%d/merge", number), body, nil)
	return err
}

func (g *gitea) setStatus(ctx context.Context, sha string, st Status) error {
	_, err := g.h.do(ctx, http.MethodPost, g.path("/statuses/%s", sha), map[string]string{
		"state": string(st.State), "context": st.Context, "description": st.Description, "target_url": st.TargetURL,
	}, nil)
	return err
}

type giteaStatus struct {
	Status      string `json:"status"`
	Context     string `json:"context"`
	Description string `json:"description"`
	TargetURL   string `json:"target_url"`
}

func (g *gitea) statuses(ctx context.Context, ref string) ([]Status, error) {
	var combined struct {
		Statuses []giteaStatus `json:"statuses"`
	}
	if _, err := g.h.do(ctx, http.MethodGet, g.path("/commits/%s/status", url.PathEscape(ref)), nil, &combined); err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(combined.Statuses))
	for _, s := range combined.Statuses {
		state := State(s.Status)
		if state == "warning" {
			state = StateSuccess // a warning does not block
		}
		out = append(out, Status{Context: s.Context, State: state, Description: s.Description, TargetURL: s.TargetURL})
	}
	return out, nil
}

type giteaComment struct {
	ID      int64      `json:"id"`
	Body    string     `json:"body"`
	HTMLURL string     `json:"html_url"`
	User    *giteaUser `json:"user"`
}

func (c giteaComment) comment() Comment {
	out := Comment{ID: c.ID, Body: c.Body, URL: c.HTMLURL}
	if c.User != nil {
		out.Author = c.User.Login
	}
	return out
}

func (g *gitea) comments(ctx context.Context, number int) ([]Comment, error) {
	// Gitea returns every comment of an issue in one answer.
	var cs []giteaComment
	if _, err := g.h.do(ctx, http.MethodGet, g.path("/issues/%d/comments", number), nil, &cs); err != nil {
		return nil, err
	}
	out := make([]Comment, len(cs))
	for i, c := range cs {
		out[i] = c.comment()
	}
	return out, nil
}

func (g *gitea) createComment(ctx context.Context, number int, body string) (Comment, error) {
	var c giteaComment
	_, err := g.h.do(ctx, http.MethodPost, g.path("/issues/%d/comments", number), map[string]string{"body": body}, &c)
	return c.comment(), err
}

func (g *gitea) editComment(ctx context.Context, _ int, id int64, body string) (Comment, error) {
	var c giteaComment
	_, err := g.h.do(ctx, http.MethodPatch, g.path("/issues/comments/%d", id), map[string]string{"body": body}, &c)
	return c.comment(), err
}

// currentUser reads GET /user; a scoped token needs read:user for it.
func (g *gitea) currentUser(ctx context.Context) (string, error) {
	var u giteaUser
	_, err := g.h.do(ctx, http.MethodGet, "/user", nil, &u)
	return u.Login, err
}
