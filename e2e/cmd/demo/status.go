package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/carina-gitops/carina/agent/api"
)

// printApps prints the table `carina status` prints (cmd/carina's
// printApps, which lives in package main there and cannot be imported).
func printApps(w io.Writer, apps []api.AppSummary) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tENV\tCLUSTERS\tREVISION\tSYNC\tHEALTH\tAGE\tMESSAGE")
	for _, a := range apps {
		msg := a.Error
		if a.Suspended {
			msg = strings.TrimSpace("suspended " + msg)
		}
		if len(a.Envs) == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t%s\t-\t-\t-\t%s\n", a.Name, shortRevision(a.Revision), msg)
		}
		for _, e := range a.Envs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Name, e.Name, strings.Join(e.Clusters, ","),
				shortRevision(e.Revision), e.Sync, e.Health, age(e.LastReconcile), msg)
		}
	}
	return tw.Flush()
}

func shortRevision(r string) string {
	if i := strings.Index(r, "@sha1:"); i >= 0 && len(r) > i+6+12 {
		return r[:i+6+12]
	}
	return r
}

func age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String()
}
