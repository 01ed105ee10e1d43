package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

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
	var output, kubeconfig, kubeContext string
	cmd := &cobra.Command{
		Use:   "status [APP]",
		Short: "Show the revision, sync, health and workflow of applications, from the agent's API or a cluster's inventories",
		Long: `Show the revision, sync, health and workflow of applications.

By default it asks the agent's API (--server, --token). With --kubeconfig or
--context it reads the inventories of that cluster instead, with no agent
needed: the revision, result and health of the last apply of each
application and environment, and their objects. Workflow steps, drift and
history live only in a running agent.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "" && output != "json" {
				return fmt.Errorf("output format %q is not supported (use json)", output)
			}
			out := cmd.OutOrStdout()
			if kubeconfig != "" || kubeContext != "" {
				return statusFromCluster(cmd, args, kubeconfig, kubeContext, output)
			}
			c := f.client()
			if len(args) == 0 {
				apps, err := c.Apps(cmd.Context())
				if err != nil {
					return err
				}
				if output == "json" {
					return writeJSON(out, apps)
				}
				if err := api.WriteApps(out, apps); err != nil {
					return err
				}
				srcs, err := c.Sources(cmd.Context())
				if err != nil {
					return fmt.Errorf("sources: %w", err)
				}
				return api.WriteHolds(out, srcs)
			}
			app, err := c.App(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(out, app)
			}
			return api.WriteApp(out, app)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "read the inventories of this kubeconfig's cluster instead of asking the agent")
	cmd.Flags().StringVar(&kubeContext, "context", "", "kubeconfig context (implies reading the cluster's inventories)")
	return cmd
}

// statusFromCluster prints the status the cluster's inventories hold.
func statusFromCluster(cmd *cobra.Command, args []string, kubeconfig, kubeContext, output string) error {
	cs, err := readClusterStatus(cmd.Context(), kubeconfig, kubeContext)
	if cs == nil {
		return err
	}
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v\n", err)
	}
	out := cmd.OutOrStdout()
	if len(args) == 0 {
		apps := cs.apps()
		if output == "json" {
			return writeJSON(out, apps)
		}
		return api.WriteApps(out, apps)
	}
	app, ok := cs.app(args[0])
	if !ok {
		return fmt.Errorf("application %q has no inventory in cluster %s", args[0], cs.cluster)
	}
	if output == "json" {
		return writeJSON(out, app)
	}
	return api.WriteApp(out, app)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
