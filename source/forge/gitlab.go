package forge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// gitlab speaks the GitLab REST API v4 (merge requests are its pull
// requests; a pull request number is the merge request's iid).
type gitlab struct {
	h       *rest
	project string // URL-escaped project path
}

const gitlabPerPage = 100

type gitlabUser struct {
	Username string `json:"username"`
}

type gitlabMR struct {
	IID             int         `json:"iid"`
	Title           string      `json:"title"`
	WebURL          string      `json:"web_url"`
	Draft           bool        `json:"draft"`
	Author          *gitlabUser `json:"author"`
	Labels          []string    `json:"labels"`
	SourceBranch    string      `json:"source_branch"`
	TargetBranch    string      `json:"target_branch"`
	SHA             string      `json:"sha"`
	SourceProjectID int64       `json:"source_project_id"`
	TargetProjectID int64       `json:"target_project_id"`
}

func (m gitlabMR) pullRequest() PullRequest {
	out := PullRequest{
		Number: m.IID, Title: m.Title, URL: m.WebURL, Draft: m.Draft, Labels: m.Labels,
		HeadBranch: m.SourceBranch, HeadSHA: m.SHA, BaseBranch: m.TargetBranch,
		Fork: m.SourceProjectID == 0 || m.SourceProjectID != m.TargetProjectID,
	}
	if m.Author != nil {
		out.Author = m.Author.Username
	}
	return out
}

func (g *gitlab) path(format string, args ...any) string {
	return "/projects/" + g.project + fmt.Sprintf(format, args...)
}

func (g *gitlab) listOpen(ctx context.Context) ([]PullRequest, error) {
	mrs, err := list[gitlabMR](ctx, g.h, g.path("/merge_requests?state=opened&order_by=created_at&sort=asc&per_page=%d", gitlabPerPage), gitlabPerPage)
	if err != nil {
		return nil, err
	}
	out := make([]PullRequest, len(mrs))
	for i, m := range mrs {
		out[i] = m.pullRequest()
	}
	return out, nil
}

func (g *gitlab) getPR(ctx context.Context, number int) (PullRequest, error) {
	var m gitlabMR
	_, err := g.h.do(ctx, http.MethodGet, g.path("/merge_requests/%d", number), nil, &m)
	return m.pullRequest(), err
}

func (g *gitlab) createPR(ctx context.Context, spec PullRequestSpec) (PullRequest, error) {
	var m gitlabMR
	_, err := g.h.do(ctx, http.MethodPost, g.path("/merge_requests"), map[string]string{
		"source_branch": spec.Head, "target_branch": spec.Base, "title": spec.Title, "description": spec.Body,
	}, &m)
	return m.pullRequest(), err
}

func (g *gitlab) updatePR(ctx context.Context, number int, spec PullRequestSpec) (PullRequest, error) {
	var m gitlabMR
	_, err := g.h.do(ctx, http.MethodPut, g.path("/merge_requests/%d", number), map[string]string{
		"title": spec.Title, "description": spec.Body,
	}, &m)
	return m.pullRequest(), err
}

func (g *gitlab) merge(ctx context.Context, number int, sha string) error {
	body := map[string]string{}
	if sha != "" {
		body["sha"] = sha
	}
	_, err := g.h.do(ctx, http.MethodPut, g.path("/merge_requests/%d/merge", number), body, nil)
	return err
}

// gitlabStates maps Carina's states to GitLab's commit status states.
var gitlabStates = map[State]string{
	StatePending: "pending", StateSuccess: "success", StateFailure: "failed", StateError: "failed",
}

func (g *gitlab) setStatus(ctx context.Context, sha string, st Status) error {
	body := map[string]string{"state": gitlabStates[st.State], "name": st.Context, "description": st.Description}
	if st.TargetURL != "" {
		body["target_url"] = st.TargetURL
	}
	_, err := g.h.do(ctx, http.MethodPost, g.path("/statuses/%s", sha), body, nil)
	var api *APIError
	if errors.As(err, &api) && api.StatusCode == http.StatusBadRequest && strings.Contains(api.Message, "Cannot transition status") {
		return nil // the status already has this state
	}
	return err
}

type gitlabStatus struct {
	Status      string `json:"status"`
	Name        string `json:"name"`
	Description string `json:"description"`
	TargetURL   string `json:"target_url"`
}

func (g *gitlab) statuses(ctx context.Context, ref string) ([]Status, error) {
	// Without all=true GitLab returns the latest status of each name.
	sts, err := list[gitlabStatus](ctx, g.h, g.path("/repository/commits/%s/statuses?per_page=%d", url.PathEscape(ref), gitlabPerPage), gitlabPerPage)
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(sts))
	for _, s := range sts {
		var state State
		switch s.Status {
		case "success", "skipped":
			state = StateSuccess
		case "failed", "canceled":
			state = StateFailure
		default: // created, waiting_for_resource, preparing, pending, running, manual, scheduled
			state = StatePending
		}
		out = append(out, Status{Context: s.Name, State: state, Description: s.Description, TargetURL: s.TargetURL})
	}
	return out, nil
}

type gitlabNote struct {
	ID     int64       `json:"id"`
	Body   string      `json:"body"`
	System bool        `json:"system"`
	Author *gitlabUser `json:"author"`
}

func (n gitlabNote) comment() Comment {
	out := Comment{ID: n.ID, Body: n.Body}
	if n.Author != nil {
		out.Author = n.Author.Username
	}
	return out
}

func (g *gitlab) comments(ctx context.Context, number int) ([]Comment, error) {
	notes, err := list[gitlabNote](ctx, g.h, g.path("/merge_requests/%d/notes?sort=asc&order_by=created_at&per_page=%d", number, gitlabPerPage), gitlabPerPage)
	if err != nil {
		return nil, err
	}
	var out []Comment
	for _, n := range notes {
		if !n.System {
			out = append(out, n.comment())
		}
	}
	return out, nil
}

func (g *gitlab) createComment(ctx context.Context, number int, body string) (Comment, error) {
	var n gitlabNote
	_, err := g.h.do(ctx, http.MethodPost, g.path("/merge_requests/%d/notes", number), map[string]string{"body": body}, &n)
	return n.comment(), err
}

func (g *gitlab) editComment(ctx context.Context, number int, id int64, body string) (Comment, error) {
	var n gitlabNote
	_, err := g.h.do(ctx, http.MethodPut, g.path("/merge_requests/%d/notes/%d", number, id), map[string]string{"body": body}, &n)
	return n.comment(), err
}

// currentUser reads GET /user (a token needs the scope api or read_user).
func (g *gitlab) currentUser(ctx context.Context) (string, error) {
	var u gitlabUser
	_, err := g.h.do(ctx, http.MethodGet, "/user", nil, &u)
	return u.Username, err
}
