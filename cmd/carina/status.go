package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/carina-gitops/carina/agent/api"
)

// agentFlags shared by the commands that talk to the agent's API.
type apiFlags struct {
	server string
	token  string
}

func (f *apiFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.server, "server", envOr("CARINA_SERVER", "http://127.0.0.1:8080"), "the agent's API address (env CARINA_SERVER)")
	cmd.Flags().StringVar(&f.token, "token", "", "bearer token for the API (default: env CARINA_TOKEN)")
}

func (f *apiFlags) client() *api.Client {
	tok := f.token
	if tok == "" {
		tok = os.Getenv("CARINA_TOKEN")
	}
	return &api.Client{BaseURL: f.server, Token: tok}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func newStatusCmd() *cobra.Command {
	var f apiFlags
	var output string
	cmd := &cobra.Command{
		Use:   "status [APP]",
		Short: "Show the revision, sync, health and workflow of applications, from the agent's API",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "" && output != "json" {
				return fmt.Errorf("output format %q is not supported (use json)", output)
			}
			c := f.client()
			out := cmd.OutOrStdout()
			if len(args) == 0 {
				apps, err := c.Apps(cmd.Context())
				if err != nil {
					return err
				}
				if output == "json" {
					return writeJSON(out, apps)
				}
				return printApps(out, apps)
			}
			app, err := c.App(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(out, app)
			}
			return printApp(out, app)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	return cmd
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printApps prints one line per (app, env).
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

// printApp prints an application's envs, workflow and errors.
func printApp(w io.Writer, a api.AppStatus) error {
	fmt.Fprintf(w, "Application: %s (source %s, %s)\n", a.Name, a.Source, shortRevision(a.Revision))
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
			shortRevision(e.Revision), e.Sync, e.Health, firstLine(last))
	}
	if len(a.Workflow) > 0 {
		fmt.Fprintln(tw, "\nSTEP\tTYPE\tPHASE\tMESSAGE")
		printSteps(tw, a.Workflow, "")
	}
	return tw.Flush()
}

func printSteps(w io.Writer, steps []api.StepStatus, indent string) {
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
