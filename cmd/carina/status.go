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
				return api.WriteApps(out, apps)
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
	return cmd
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
