package forge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// github speaks the GitHub REST API (api.github.com or GitHub Enterprise).
type github struct {
	h    *rest
	repo string // owner/name
}

const githubPerPage = 100

type githubRepo struct {
	FullName string `json:"full_name"`
}

type githubBranch struct {
	Ref  string      `json:"ref"`
	SHA  string      `json:"sha"`
	Repo *githubRepo `json:"repo"`
}

type githubPR struct {
	Number  int          `json:"number"`
	Title   string       `json:"title"`
	HTMLURL string       `json:"html_url"`
	Draft   bool         `json:"draft"`
	User    *giteaUser   `json:"user"` // {"login": ...}, the same shape
	Labels  []giteaLabel `json:"labels"`
	Head    githubBranch `json:"head"`
	Base    githubBranch `json:"base"`
}

func (p githubPR) pullRequest() PullRequest {
	out := PullRequest{
		Number: p.Number, Title: p.Title, URL: p.HTMLURL, Draft: p.Draft,
		HeadBranch: p.Head.Ref, HeadSHA: p.Head.SHA, BaseBranch: p.Base.Ref,
		// A deleted fork leaves head.repo null.
		Fork: p.Head.Repo == nil || p.Base.Repo == nil || !strings.EqualFold(p.Head.Repo.FullName, p.Base.Repo.FullName),
	}
	if p.User != nil {
		out.Author = p.User.Login
	}
	for _, l := range p.Labels {
		out.Labels = append(out.Labels, l.Name)
	}
	return out
}

func (g *github) path(format string, args ...any) string {
	return "/repos/" + g.repo + fmt.Sprintf(format, args...)
}

func (g *github) listOpen(ctx context.Context) ([]PullRequest, error) {
	prs, err := list[githubPR](ctx, g.h, g.path("/pulls?state=open&sort=created&direction=asc&per_page=%d", githubPerPage), githubPerPage)
	if err != nil {
		return nil, err
	}
	out := make([]PullRequest, len(prs))
	for i, p := range prs {
		out[i] = p.pullRequest()
	}
	return out, nil
}

func (g *github) getPR(ctx context.Context, number int) (PullRequest, error) {
	var p githubPR
	_, err := g.h.do(ctx, http.MethodGet, g.path("/pulls/%d", number), nil, &p)
	return p.pullRequest(), err
}

func (g *github) createPR(ctx context.Context, spec PullRequestSpec) (PullRequest, error) {
	var p githubPR
	_, err := g.h.do(ctx, http.MethodPost, g.path("/pulls"), map[string]string{
		"head": spec.Head, "base": spec.Base, "title": spec.Title, "body": spec.Body,
	}, &p)
	return p.pullRequest(), err
}

func (g *github) updatePR(ctx context.Context, number int, spec PullRequestSpec) (PullRequest, error) {
	var p githubPR
	_, err := g.h.do(ctx, http.MethodPatch, g.path("/pulls/%d", number), map[string]string{
		"title": spec.Title, "body": spec.Body,
	}, &p)
	return p.pullRequest(), err
}

func (g *github) merge(ctx context.Context, number int, sha string) error {
	body := map[string]string{"merge_method": "merge"}
	if sha != "" {
		body["sha"] = sha
	}
	_, err := g.h.do(ctx, http.MethodPut, g.path("/pulls/%d/merge", number), body, nil)
	return err
}

func (g *github) setStatus(ctx context.Context, sha string, st Status) error {
	body := map[string]string{"state": string(st.State), "context": st.Context, "description": st.Description}
	if st.TargetURL != "" {
		body["target_url"] = st.TargetURL
	}
	_, err := g.h.do(ctx, http.MethodPost, g.path("/statuses/%s", sha), body, nil)
	return err
}

type githubStatus struct {
	State       string `json:"state"`
	Context     string `json:"context"`
	Description string `json:"description"`
	TargetURL   string `json:"target_url"`
}

func (g *github) statuses(ctx context.Context, ref string) ([]Status, error) {
	var combined struct {
		Statuses []githubStatus `json:"statuses"`
	}
	if _, err := g.h.do(ctx, http.MethodGet, g.path("/commits/%s/status?per_page=100", url.PathEscape(ref)), nil, &combined); err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(combined.Statuses))
	for _, s := range combined.Statuses {
		out = append(out, Status{Context: s.Context, State: State(s.State), Description: s.Description, TargetURL: s.TargetURL})
	}
	return out, nil
}

func (g *github) comments(ctx context.Context, number int) ([]Comment, error) {
	cs, err := list[giteaComment](ctx, g.h, g.path("/issues/%d/comments?per_page=%d", number, githubPerPage), githubPerPage)
	if err != nil {
		return nil, err
	}
	out := make([]Comment, len(cs))
	for i, c := range cs {
		out[i] = c.comment()
	}
	return out, nil
}

func (g *github) createComment(ctx context.Context, number int, body string) (Comment, error) {
	var c giteaComment
	_, err := g.h.do(ctx, http.MethodPost, g.path("/issues/%d/comments", number), map[string]string{"body": body}, &c)
	return c.comment(), err
}

func (g *github) editComment(ctx context.Context, _ int, id int64, body string) (Comment, error) {
	var c giteaComment
	_, err := g.h.do(ctx, http.MethodPatch, g.path("/issues/comments/%d", id), map[string]string{"body": body}, &c)
	return c.comment(), err
}

// currentUser reads GET /user. A GitHub App's installation token may not
// (GitHub answers 403 "Resource not accessible by integration"); then it
// asks GraphQL for the viewer, which for such a token is the app's bot
// user, "<app-slug>[bot]", the author of the app's comments.
func (g *github) currentUser(ctx context.Context) (string, error) {
	var u giteaUser // {"login": ...}, the same shape
	_, err := g.h.do(ctx, http.MethodGet, "/user", nil, &u)
	var api *APIError
	if !errors.As(err, &api) || api.StatusCode != http.StatusForbidden {
		return u.Login, err
	}
	path := githubGraphQLPath(g.h.base.Path)
	var gql struct {
		Data struct {
			Viewer struct {
				Login string `json:"login"`
			} `json:"viewer"`
		} `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if _, gerr := g.h.doAtRoot(ctx, http.MethodPost, path, map[string]string{"query": "query { viewer { login } }"}, &gql); gerr != nil {
		return "", fmt.Errorf("%w; then %w", err, gerr)
	}
	if len(gql.Errors) > 0 {
		return "", fmt.Errorf("%w; then forge POST %s: %s", err, path, g.h.tidy(gql.Errors[0].Message))
	}
	return gql.Data.Viewer.Login, nil
}

// githubGraphQLPath is where GraphQL is served for a REST base path:
// /graphql beside api.github.com's root, /api/graphql beside GitHub
// Enterprise Server's /api/v3.
func githubGraphQLPath(restPath string) string {
	if p, ok := strings.CutSuffix(restPath, "/api/v3"); ok {
		return p + "/api/graphql"
	}
	return restPath + "/graphql"
}
