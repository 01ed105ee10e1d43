package forge

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// MaxCommentBytes bounds a comment body; longer ones are cut with a note
// (GitHub refuses bodies over 65536 characters).
const MaxCommentBytes = 60000

// markerKey is what a comment marker may name: "diff", "diff/prod".
var markerKey = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$`)

// Marker is the hidden line that identifies Carina's comment for key. It
// is an HTML comment, which the three forges do not render.
func Marker(key string) string { return "<!-- carina:" + key + " -->" }

// UpsertComment makes sure pull request number has exactly one comment of
// Carina for key, whose text is body: it updates Carina's comment in
// place, or creates it when there is none. Re-running with the same body
// changes nothing on the forge.
//
// Carina's comment is one that carries Marker(key) and whose author is
// the token's own account. That login is asked of the forge once per
// Client (GET /user; for a GitHub App's installation token, which GitHub
// refuses /user, GraphQL's viewer, the app's "<app-slug>[bot]"). A comment
// by anyone else that carries the marker is ignored, never edited: Carina
// posts its own beside it. When the own login cannot be learned (a Gitea
// token without read:user, a GitLab token without api or read_user),
// UpsertComment fails and creates or edits nothing.
func (c *Client) UpsertComment(ctx context.Context, number int, key, body string) (Comment, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cm, found, err := c.FindComment(ctx, number, key)
	if err != nil {
		return Comment{}, false, err
	}
	marker := Marker(key)
	full := marker + "\n" + cutBody(body, MaxCommentBytes-len(marker)-1)
	if found {
		if strings.TrimSpace(cm.Body) == strings.TrimSpace(full) {
			return cm, false, nil
		}
		updated, err := c.api.editComment(ctx, number, cm.ID, full)
		if err != nil {
			return Comment{}, false, fmt.Errorf("pull request %d comment %d: %w", number, cm.ID, err)
		}
		return updated, false, nil
	}
	created, err := c.api.createComment(ctx, number, full)
	if err != nil {
		return Comment{}, false, fmt.Errorf("pull request %d comment: %w", number, err)
	}
	return created, true, nil
}

// FindComment returns Carina's comment for key on pull request number,
// the one that carries Marker(key) and whose author is the token's own
// account (as for UpsertComment), and whether there is one. An agent that
// restarted reads what it posted before from it; a copy of the marker by
// someone else is never returned.
func (c *Client) FindComment(ctx context.Context, number int, key string) (Comment, bool, error) {
	if !markerKey.MatchString(key) {
		return Comment{}, false, fmt.Errorf("comment key %q must be 1-100 letters, digits, '.', '_', '-' or '/'", clip(key, 120))
	}
	if number <= 0 {
		return Comment{}, false, fmt.Errorf("comment: pull request number %d is not positive", number)
	}
	me, err := c.ownLogin(ctx)
	if err != nil {
		return Comment{}, false, fmt.Errorf("pull request %d comments: %w", number, err)
	}
	existing, err := c.api.comments(ctx, number)
	if err != nil {
		return Comment{}, false, fmt.Errorf("pull request %d comments: %w", number, err)
	}
	marker := Marker(key)
	for _, cm := range existing {
		if carinas(cm, marker, me) {
			return cm, true, nil
		}
	}
	return Comment{}, false, nil
}

// cutBody cuts body to n bytes on a line boundary and says so.
func cutBody(body string, n int) string {
	if len(body) <= n {
		return body
	}
	const note = "\n\n… (cut: the full text is longer than the forge allows)"
	cut := clipRunes(body, n-len(note)-4)
	cut = strings.TrimSuffix(cut, "…")
	if i := strings.LastIndexByte(cut, '\n'); i > 0 {
		cut = cut[:i]
	}
	return cut + note
}

// OpenOrUpdatePullRequest makes sure exactly one open pull request goes
// from spec.Head to spec.Base, with spec's title and body: it updates the
// open one, or opens one when there is none. Re-running, also from another
// process after a restart, never opens a second one, since the forge is
// the only state. created says whether it opened one.
func (c *Client) OpenOrUpdatePullRequest(ctx context.Context, spec PullRequestSpec) (pr PullRequest, created bool, err error) {
	if spec.Head == "" || spec.Base == "" || spec.Head == spec.Base {
		return PullRequest{}, false, errors.New("pull request: head and base must be two different branches")
	}
	if strings.TrimSpace(spec.Title) == "" {
		return PullRequest{}, false, errors.New("pull request: title is empty")
	}
	spec.Title = clipRunes(spec.Title, 250)
	spec.Body = cutBody(spec.Body, MaxCommentBytes)
	c.mu.Lock()
	defer c.mu.Unlock()
	open, err := c.api.listOpen(ctx)
	if err != nil {
		return PullRequest{}, false, fmt.Errorf("open pull requests: %w", err)
	}
	for _, p := range open {
		if p.Fork || p.HeadBranch != spec.Head || p.BaseBranch != spec.Base {
			continue
		}
		upd, err := c.api.updatePR(ctx, p.Number, spec)
		if err != nil {
			return PullRequest{}, false, fmt.Errorf("pull request %d: %w", p.Number, err)
		}
		return upd, false, nil
	}
	pr, err = c.api.createPR(ctx, spec)
	if err != nil {
		return PullRequest{}, false, fmt.Errorf("pull request from %s to %s: %w", spec.Head, spec.Base, err)
	}
	return pr, true, nil
}
