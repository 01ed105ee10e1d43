package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/render"
	"github.com/carina-gitops/carina/source/pin"
)

// objectChange is one line of the rendered diff summary.
type objectChange struct {
	Op  string `json:"op"` // added, changed, removed
	Ref string `json:"object"`
}

// renderEnv renders app's env at commit of repo, from a temporary
// checkout. It returns the objects by Kind/namespace/name and their JSON
// (only compared, never shown, so no Secret value leaves).
func renderEnv(ctx context.Context, repo *pin.Repo, commit, app, env string) (map[string][]byte, error) {
	dir, err := os.MkdirTemp("", "carina-promote-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tree := filepath.Join(dir, "tree")
	if err := repo.WriteTree(ctx, commit, tree, pin.DefaultCheckoutLimits()); err != nil {
		return nil, err
	}
	root, apps, err := openApps(tree, "")
	if err != nil {
		return nil, err
	}
	defer root.Close()
	reg, closeDefs, err := openRegistry(ctx, root, nil)
	if err != nil {
		return nil, err
	}
	defer closeDefs()
	for _, a := range apps {
		if a.Name != app {
			continue
		}
		envs, err := appfile.Environments(a)
		if err != nil {
			return nil, fmt.Errorf("application %s: %w", app, err)
		}
		for _, e := range envs {
			if e.Name != env {
				continue
			}
			res, err := render.Render(ctx, a, e, reg, root.FS(), render.DefaultOptions())
			if err != nil {
				return nil, err
			}
			out := map[string][]byte{}
			for _, o := range res.Objects {
				data, err := json.Marshal(o.Object.Object)
				if err != nil {
					return nil, err
				}
				out[objectRef(o)] = data
			}
			return out, nil
		}
		return nil, fmt.Errorf("application %s has no environment %s", app, env)
	}
	return nil, fmt.Errorf("no application %s at %s", app, short(commit))
}

func objectRef(o render.Object) string {
	u := o.Object
	if ns := u.GetNamespace(); ns != "" {
		return u.GetKind() + "/" + ns + "/" + u.GetName()
	}
	return u.GetKind() + "/" + u.GetName()
}

// diffSummary compares two renders by object.
func diffSummary(before, after map[string][]byte) []objectChange {
	var out []objectChange
	for ref, a := range after {
		b, ok := before[ref]
		switch {
		case !ok:
			out = append(out, objectChange{"added", ref})
		case !bytes.Equal(a, b):
			out = append(out, objectChange{"changed", ref})
		}
	}
	for ref := range before {
		if _, ok := after[ref]; !ok {
			out = append(out, objectChange{"removed", ref})
		}
	}
	slices.SortFunc(out, func(x, y objectChange) int { return strings.Compare(x.Ref, y.Ref) })
	return out
}

// promotion is what the pull request says.
type promotion struct {
	App, Env, Base  string
	From, To        string // commit ids; From "" when the env was not pinned
	Commits         []pin.Commit
	MoreCommits     bool
	Changes         []objectChange
	RenderErr       error
	ObjectsRendered int
}

func (p promotion) title() string {
	return fmt.Sprintf("Promote %s to %s at %s", p.App, p.Env, short(p.To))
}

// body renders the pull request description as Markdown.
func (p promotion) body() string {
	var b strings.Builder
	from := "the branch head (not pinned yet)"
	if p.From != "" {
		from = "`" + short(p.From) + "`"
	}
	fmt.Fprintf(&b, "Pins environment **%s** of **%s** to `%s` (was %s).\n\n", p.Env, p.App, short(p.To), from)
	fmt.Fprintf(&b, "### Commits (%d%s)\n\n", len(p.Commits), map[bool]string{true: "+", false: ""}[p.MoreCommits])
	for _, c := range p.Commits {
		fmt.Fprintf(&b, "- `%s` %s (%s)\n", short(c.ID), markdownLine(c.Subject), markdownLine(c.Author))
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
	b.WriteString("\n<sub>Opened by `carina promote`; re-running updates this pull request.</sub>\n")
	return b.String()
}

func markdownLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.NewReplacer("<", "&lt;", ">", "&gt;", "`", "'").Replace(s)
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
