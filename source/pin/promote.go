package pin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/carina-gitops/carina/source/forge"
)

// A promotion pins an environment to a new revision through a branch and
// a pull request; `carina promote` and the agent's promote step both
// make one with Plan and Propose.

// RenderFunc renders app's env at commit and returns its objects by
// "Kind/namespace/name", with their JSON (compared, never shown).
type RenderFunc func(ctx context.Context, commit string) (map[string][]byte, error)

// ObjectChange is one line of the rendered diff summary.
type ObjectChange struct {
	Op  string `json:"op"` // added, changed, removed
	Ref string `json:"object"`
}

// Promotion is what a promotion pull request says.
type Promotion struct {
	App, Env, Base string
	// File is the pin file; From and To are commit ids (From "" when
	// the env was not pinned).
	File            string
	From, To        string
	Commits         []Commit
	MoreCommits     bool
	Changes         []ObjectChange
	RenderErr       error
	ObjectsRendered int
	// Opener names who opens the pull request, in its footer.
	Opener string
}

// maxPromotionCommits bounds the commits a pull request lists.
const maxPromotionCommits = 50

// Plan reads the current pin of env from repo, resolves the new revision
// (revision, or the branch head when ""), lists the commits between them
// and, with render, summarizes the rendered change.
func Plan(ctx context.Context, repo *Repo, app, env, base, file, revision string, render RenderFunc) (Promotion, error) {
	p := Promotion{App: app, Env: env, Base: base, File: file}
	old, err := repo.ReadPin(file)
	switch {
	case errors.Is(err, ErrNotPinned):
	case err != nil:
		return p, err
	default:
		if p.From, err = repo.Resolve(old.Revision); err != nil {
			return p, fmt.Errorf("%s: %w", file, err)
		}
	}
	p.To = repo.Head()
	if revision != "" {
		if p.To, err = repo.Resolve(revision); err != nil {
			return p, err
		}
	}
	if p.From == p.To {
		return p, nil
	}
	if p.Commits, p.MoreCommits, err = repo.Commits(ctx, p.From, p.To, maxPromotionCommits); err != nil {
		return p, err
	}
	if render == nil {
		return p, nil
	}
	after, err := render(ctx, p.To)
	if err != nil {
		p.RenderErr = err
		return p, nil
	}
	var before map[string][]byte
	if p.From != "" {
		if before, err = render(ctx, p.From); err != nil {
			p.RenderErr = fmt.Errorf("at %s: %w", Short(p.From), err)
			return p, nil
		}
	}
	p.Changes, p.ObjectsRendered = DiffSummary(before, after), len(after)
	return p, nil
}

// DiffSummary compares two renders by object.
func DiffSummary(before, after map[string][]byte) []ObjectChange {
	var out []ObjectChange
	for ref, a := range after {
		b, ok := before[ref]
		switch {
		case !ok:
			out = append(out, ObjectChange{"added", ref})
		case !bytes.Equal(a, b):
			out = append(out, ObjectChange{"changed", ref})
		}
	}
	for ref := range before {
		if _, ok := after[ref]; !ok {
			out = append(out, ObjectChange{"removed", ref})
		}
	}
	slices.SortFunc(out, func(x, y ObjectChange) int { return strings.Compare(x.Ref, y.Ref) })
	return out
}

// BranchPrefix starts the name of every promotion branch.
const BranchPrefix = "carina/promote/"

// Branch is the branch a promotion of app to env is pushed to.
func Branch(app, env string) string { return BranchPrefix + app + "-" + env }

// Title is the pull request's title.
func (p Promotion) Title() string {
	return fmt.Sprintf("Promote %s to %s at %s", p.App, p.Env, Short(p.To))
}

// Body renders the pull request description as Markdown.
func (p Promotion) Body() string {
	var b strings.Builder
	from := "the branch head (not pinned yet)"
	if p.From != "" {
		from = "`" + Short(p.From) + "`"
	}
	fmt.Fprintf(&b, "Pins environment **%s** of **%s** to `%s` (was %s).\n\n", p.Env, p.App, Short(p.To), from)
	fmt.Fprintf(&b, "### Commits (%d%s)\n\n", len(p.Commits), map[bool]string{true: "+", false: ""}[p.MoreCommits])
	for _, c := range p.Commits {
		fmt.Fprintf(&b, "- `%s` %s (%s)\n", Short(c.ID), markdownLine(c.Subject), markdownLine(c.Author))
	}
	if p.MoreCommits {
		b.WriteString("- …\n")
	}
	b.WriteString("\n### Rendered changes\n\n")
	switch {
	case p.RenderErr != nil:
		fmt.Fprintf(&b, "The render for %s could not be compared: %s\n", p.Env, markdownLine(p.RenderErr.Error()))
	case len(p.Changes) == 0:
		fmt.Fprintf(&b, "No rendered object of %s changes (%d objects).\n", p.Env, p.ObjectsRendered)
	default:
		counts := map[string]int{}
		for _, c := range p.Changes {
			counts[c.Op]++
		}
		fmt.Fprintf(&b, "%d added, %d changed, %d removed (of %d objects):\n\n", counts["added"], counts["changed"], counts["removed"], p.ObjectsRendered)
		for _, c := range p.Changes {
			fmt.Fprintf(&b, "- %s `%s`\n", c.Op, c.Ref)
		}
	}
	opener := p.Opener
	if opener == "" {
		opener = "`carina promote`"
	}
	fmt.Fprintf(&b, "\n<sub>Opened by %s; re-running updates this pull request.</sub>\n", opener)
	return b.String()
}

// Proposal is what Propose did.
type Proposal struct {
	Branch string
	Push   Result
	// PR is the pull request opened or updated (zero without a client).
	PR      forge.PullRequest
	Created bool
}

// Propose pushes the pin change of p on its branch and, with client,
// opens the pull request or updates the one already open for it: the
// forge is the only state, so running it again, from anywhere, never
// opens a second one.
func Propose(ctx context.Context, repo *Repo, client *forge.Client, p Promotion, msg string, sig Signature) (Proposal, error) {
	out := Proposal{Branch: Branch(p.App, p.Env)}
	var err error
	if out.Push, err = repo.PushChange(ctx, out.Branch, p.File, Format(p.App, p.Env, Pin{Revision: p.To}), msg, sig); err != nil {
		return out, err
	}
	if client == nil {
		return out, nil
	}
	out.PR, out.Created, err = client.OpenOrUpdatePullRequest(ctx, forge.PullRequestSpec{Head: out.Branch, Base: p.Base, Title: p.Title(), Body: p.Body()})
	return out, err
}

func markdownLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.NewReplacer("<", "&lt;", ">", "&gt;", "`", "'").Replace(s)
}

// Short is a commit id's first 12 characters.
func Short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
