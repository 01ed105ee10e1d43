package api

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteApps prints the status table of `carina status`: one line per
// (app, env).
func WriteApps(w io.Writer, apps []AppSummary) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tENV\tCLUSTERS\tREVISION\tSYNC\tHEALTH\tAGE\tMESSAGE")
	for _, a := range apps {
		msg := a.Error
		if a.Suspended {
			msg = strings.TrimSpace("suspended " + msg)
		}
		if len(a.Envs) == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t%s\t-\t-\t-\t%s\n", a.Name, ShortRevision(a.Revision), msg)
		}
		for _, e := range a.Envs {
			m := msg
			if e.Error != "" && e.Error != a.Error {
				m = strings.TrimSpace(m + " " + firstLine(e.Error))
			}
			if e.Pinned != "" {
				m = strings.TrimSpace("pinned to " + shortPin(e.Pinned) + " " + m)
			}
			if e.Drifted > 0 {
				m = strings.TrimSpace(fmt.Sprintf("%d drifted %s", e.Drifted, m))
			}
			if e.Warnings > 0 {
				m = strings.TrimSpace(fmt.Sprintf("%s %s", plural(e.Warnings, "warning"), m))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Name, e.Name, strings.Join(e.Clusters, ","),
				ShortRevision(e.Revision), e.Sync, e.Health, age(e.LastReconcile), m)
		}
	}
	return tw.Flush()
}

// WriteApp prints an application's envs, workflow and errors.
func WriteApp(w io.Writer, a AppStatus) error {
	fmt.Fprintf(w, "Application: %s (source %s, %s)\n", a.Name, a.Source, ShortRevision(a.Revision))
	if a.File != "" {
		fmt.Fprintf(w, "Defined in:  %s\n", a.File)
	}
	if a.Suspended {
		fmt.Fprintln(w, "Suspended:   yes (carina resume "+a.Name+")")
	}
	if a.Error != nil {
		fmt.Fprintf(w, "Error:       %s\n", a.Error.Message)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nENV\tCLUSTERS\tNAMESPACE\tREVISION\tSYNC\tHEALTH\tLAST ERROR")
	for _, e := range a.Envs {
		last := ""
		if e.LastError != nil {
			last = e.LastError.Message
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, strings.Join(e.Clusters, ","), e.Namespace,
			ShortRevision(e.Revision), e.Sync, e.Health, firstLine(last))
	}
	var drift []string
	for _, e := range a.Envs {
		for _, d := range e.Drift {
			obj := d.Kind + "/" + d.Name
			if d.Namespace != "" {
				obj = d.Kind + "/" + d.Namespace + "/" + d.Name
			}
			drift = append(drift, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", e.Name, d.Cluster, obj, d.Reason, d.State, age(d.Since)))
		}
	}
	if len(drift) > 0 {
		fmt.Fprintln(tw, "\nENV\tCLUSTER\tDRIFTED OBJECT\tREASON\tSTATE\tSINCE")
		for _, l := range drift {
			fmt.Fprintln(tw, l)
		}
	}
	if hasWarnings(a.Envs) {
		fmt.Fprintln(tw, "\nENV\tWARNING")
		for _, e := range a.Envs {
			for _, w := range e.Warnings {
				fmt.Fprintf(tw, "%s\t%s\n", e.Name, oneLine(w))
			}
		}
	}
	if len(a.Workflow) > 0 {
		fmt.Fprintln(tw, "\nSTEP\tTYPE\tPHASE\tMESSAGE")
		printSteps(tw, a.Workflow, "")
	}
	return tw.Flush()
}

func hasWarnings(envs []EnvStatus) bool {
	for _, e := range envs {
		if len(e.Warnings) > 0 {
			return true
		}
	}
	return false
}

// oneLine joins a message's lines, so that a table row stays one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func printSteps(w io.Writer, steps []StepStatus, indent string) {
	for _, s := range steps {
		fmt.Fprintf(w, "%s%s\t%s\t%s\t%s\n", indent, s.Name, s.Type, s.Phase, firstLine(s.Message))
		printSteps(w, s.SubSteps, indent+"  ")
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return s
}

// ShortRevision shortens "<ref>@sha1:<commit>" to 12 hex digits of the
// commit, and an OCI artifact's "<tag>@sha256:<digest>" to 12 hex digits
// of the digest; a bare "sha1:<commit>" (what a pinned environment
// applies) too.
func ShortRevision(r string) string {
	for _, sep := range []string{"sha1:", "sha256:"} {
		i := strings.Index(r, sep)
		if i >= 0 && (i == 0 || r[i-1] == '@') && len(r) > i+len(sep)+12 {
			return r[:i+len(sep)+12]
		}
	}
	return r
}

func age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String()
}

// WriteHolds prints the sources whose last fetch failed and the prunes
// the mass-deletion guard holds, one paragraph per source, and nothing
// when all is well.
func WriteHolds(w io.Writer, srcs []SourceStatus) error {
	for _, s := range srcs {
		if s.Error != nil {
			if _, err := fmt.Fprintf(w, "\nSOURCE FAILING: source %s: %s\n", s.Name, s.Error.Message); err != nil {
				return err
			}
		}
		h := s.PruneHeld
		if h == nil {
			continue
		}
		if _, err := fmt.Fprintf(w, "\nPRUNE HELD: source %s at %s would remove %d of %d deployments:\n  %s\nConfirm with: carina prune confirm %s --revision %s\n",
			s.Name, ShortRevision(h.Revision), h.Deployments, h.Total, strings.Join(h.Items, "\n  "), s.Name, commitOf(h.Revision)); err != nil {
			return err
		}
	}
	return nil
}

// commitOf is the commit of a revision ("main@sha1:abc" gives "abc").
func commitOf(rev string) string {
	if _, after, ok := strings.Cut(rev, ":"); ok {
		return after
	}
	return rev
}

// shortPin shortens a pinned commit id; a tag stays whole.
func shortPin(rev string) string {
	if len(rev) == 40 || len(rev) == 64 {
		return rev[:12]
	}
	return rev
}
