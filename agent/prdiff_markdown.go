package agent

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/carina-gitops/carina/apply/diff"
	"github.com/carina-gitops/carina/source/pin"
)

// The diff comment of a pull request, as data and as Markdown. Building
// it is pure: prdiff.go renders and dry-runs, previews_comment.go posts.

// prDiff is what merging one pull request would change: per app of the
// source whose preview policy admits it, per environment.
type prDiff struct {
	number int
	// head is the commit compared, branch its branch; base the target
	// branch and baseCommit the commit of it the environments follow.
	head, branch, base, baseCommit string
	apps                           []appDiff
}

// appDiff is one application's part of a diff comment.
type appDiff struct {
	name string
	// err says why the app cannot be compared at the head at all.
	err  string
	envs []envDiff
}

// envDiff is what the head would change in one environment, or why it
// cannot say.
type envDiff struct {
	env string
	// preview: the pull request's own preview environment.
	preview bool
	// note is said before the diff, or instead of it when clusters is
	// empty (pinned and not moved, removed, new, waiting).
	note     string
	err      string
	clusters []clusterDiff
	// plain are the values decrypted for its render, redacted from the
	// comment.
	plain []string
}

// clusterDiff is the dry-run diff of one environment in one cluster.
type clusterDiff struct {
	name string
	// objects are the objects that would change; unchanged counts the
	// others.
	objects   []diff.Object
	unchanged int
	err       string
}

// Bounds of a diff comment: the forge cuts the whole body at
// forge.MaxCommentBytes, so each environment's diff is cut first, and
// every environment keeps its summary.
const (
	maxCommentDiff  = 40000 // all unified diffs together
	minEnvDiff      = 2000  // an environment's diff, however many there are
	maxListedObject = 30    // objects listed by name per environment
	maxNoteBytes    = 600   // an error or a note
)

// stampLine is the hidden line of a diff comment that names what it was
// computed from, so that an agent that restarted does not post it again.
func stampLine(stamp string) string { return "<!-- carina:diff-stamp " + stamp + " -->" }

// counts returns how many objects would be created, changed and
// deleted.
func (e envDiff) counts() (created, changed, deleted int) {
	for _, c := range e.clusters {
		for _, o := range c.objects {
			switch o.Action {
			case diff.Create:
				created++
			case diff.Delete:
				deleted++
			default:
				changed++
			}
		}
	}
	return created, changed, deleted
}

// markdown is the comment's text; stamp is hidden in its first line.
func (d prDiff) markdown(stamp string) string {
	var b strings.Builder
	// The stamp comes first: the forge cuts a long body at its end.
	fmt.Fprintf(&b, "%s\n### Carina: what merging #%d would change\n\n", stampLine(stamp), d.number)
	fmt.Fprintf(&b, "The head %s (%s) rendered for each environment that %s deploys (at %s), "+
		"compared with the live clusters by a server-side dry-run. Secret values are never shown; "+
		"for a Secret, the keys that change are named. This comment is updated on every push.\n",
		code(pin.Short(d.head)), code(d.branch), code(d.base), code(pin.Short(d.baseCommit)))
	n := 0
	for _, a := range d.apps {
		n += len(a.envs)
	}
	budget := max(minEnvDiff, maxCommentDiff/max(n, 1))
	for _, a := range d.apps {
		if a.err != "" {
			fmt.Fprintf(&b, "\n#### %s: cannot be compared\n\n%s", code(a.name), fenced("text", a.err))
			continue
		}
		for _, e := range a.envs {
			writeEnv(&b, a.name, e, budget)
		}
	}
	return b.String()
}

// writeEnv writes one environment's section: a heading with the counts,
// the objects by name, then the unified diff folded away.
func writeEnv(b *strings.Builder, app string, e envDiff, budget int) {
	title := code(app) + " · " + code(e.env)
	if e.preview {
		title += " (this pull request's preview)"
	}
	created, changed, deleted := e.counts()
	switch {
	case e.err != "":
		fmt.Fprintf(b, "\n#### %s: cannot be compared\n\n%s", title, fenced("text", e.err))
		return
	case len(e.clusters) == 0:
		fmt.Fprintf(b, "\n#### %s\n\n%s\n", title, oneLine(e.note))
		return
	case created+changed+deleted == 0 && !e.failed():
		fmt.Fprintf(b, "\n#### %s: no change\n", title)
	default:
		fmt.Fprintf(b, "\n#### %s: %d created, %d changed, %d deleted\n", title, created, changed, deleted)
	}
	if e.note != "" {
		fmt.Fprintf(b, "\n%s\n", oneLine(e.note))
	}
	several := len(e.clusters) > 1
	var list []string
	var text strings.Builder
	for _, c := range e.clusters {
		where := ""
		if several {
			where = " in cluster " + code(c.name)
		}
		if c.err != "" {
			fmt.Fprintf(b, "\nThe dry-run failed%s; an apply would fail the same way:\n\n%s", where, fenced("text", c.err))
		}
		if several && len(c.objects) > 0 {
			fmt.Fprintf(&text, "# cluster %s\n", c.name)
		}
		for _, o := range c.objects {
			list = append(list, "- "+verb(o.Action)+" "+code(o.Ref)+secretKeys(o)+where)
			u, err := diff.Unified(o)
			if err != nil {
				u = "# " + o.Ref + ": " + err.Error() + "\n"
			}
			text.WriteString(u)
		}
	}
	if len(list) == 0 {
		return
	}
	b.WriteString("\n")
	for i, l := range list {
		if i == maxListedObject {
			fmt.Fprintf(b, "- … and %d more\n", len(list)-i)
			break
		}
		b.WriteString(l + "\n")
	}
	fmt.Fprintf(b, "\n<details><summary>Diff of %s</summary>\n\n%s\n</details>\n", escapeHTML(e.env), fenced("diff", capLines(text.String(), budget)))
}

// failed reports whether some cluster could not be compared.
func (e envDiff) failed() bool {
	return slices.ContainsFunc(e.clusters, func(c clusterDiff) bool { return c.err != "" })
}

func verb(a diff.Action) string {
	switch a {
	case diff.Create:
		return "created"
	case diff.Delete:
		return "deleted"
	}
	return "changed"
}

// secretKeys names the keys of a Secret that would change, never their
// values: " (keys: `a`, `b`)".
func secretKeys(o diff.Object) string {
	if !strings.HasPrefix(o.Ref, "Secret/") {
		return ""
	}
	var keys []string
	for _, c := range o.Changes {
		for _, field := range []string{"data", "stringData"} {
			k, ok := strings.CutPrefix(c.Path, field)
			if !ok {
				continue
			}
			switch {
			case strings.HasPrefix(k, "."):
				k = k[1:]
			case strings.HasPrefix(k, "[") && strings.HasSuffix(k, "]"):
				if uq, err := strconv.Unquote(k[1 : len(k)-1]); err == nil {
					k = uq
				}
			case k == "":
				continue
			default:
				continue
			}
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	if len(keys) == 0 {
		return ""
	}
	slices.Sort(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = code(k)
	}
	return " (keys: " + strings.Join(out, ", ") + ")"
}

// capLines cuts text to about n bytes on a line boundary and says how
// many lines were left out.
func capLines(text string, n int) string {
	if len(text) <= n {
		return text
	}
	cut := text[:n]
	if i := strings.LastIndexByte(cut, '\n'); i > 0 {
		cut = cut[:i+1]
	}
	left := strings.Count(text[len(cut):], "\n")
	return cut + fmt.Sprintf("# … %d more lines not shown: the comment is size-capped (carina diff shows them all)\n", left)
}

// code is s as inline code, on one line, without backticks (which would
// end it).
func code(s string) string {
	s = strings.ReplaceAll(oneLine(s), "`", "'")
	if s == "" {
		return "``"
	}
	return "`" + s + "`"
}

// oneLine keeps s to one line of at most maxNoteBytes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxNoteBytes {
		s = strings.ToValidUTF8(s[:maxNoteBytes], "") + "…"
	}
	return s
}

// fenced is text in a code block whose fence is longer than any run of
// backticks in it, so nothing in it can end the block and be read as
// Markdown or HTML.
func fenced(lang, text string) string {
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	run, longest := 0, 0
	for _, r := range text {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", max(3, longest+1))
	return fence + lang + "\n" + text + fence + "\n"
}

// escapeHTML escapes what HTML would read in s.
func escapeHTML(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(oneLine(s))
}
