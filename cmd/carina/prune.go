package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newPruneCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Act on prunes the mass-deletion guard holds",
	}
	cmd.AddCommand(newPruneConfirmCmd())
	return cmd
}

func newPruneConfirmCmd() *cobra.Command {
	var f apiFlags
	var revision string
	cmd := &cobra.Command{
		Use:   "confirm SOURCE --revision SHA",
		Short: "Let the prune the mass-deletion guard holds for a source go, through the agent's API",
		Long: `Let the prune the mass-deletion guard holds for a source go.

A snapshot that would remove every application of a source, or more than
its maxPruneFraction, prunes nothing: ` + "`carina status`" + ` shows what it would
remove. Name the held revision (its commit, or 7 or more of its first
characters) to prune it. A later revision that removes more is held again.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if revision == "" {
				return fmt.Errorf("name the held revision with --revision (carina status shows it)")
			}
			h, err := f.client().ConfirmPrune(cmd.Context(), args[0], revision)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "source %s at %s: pruning %d deployments:\n  %s\n", args[0], h.Revision, h.Deployments, strings.Join(h.Items, "\n  "))
			return err
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&revision, "revision", "", "the held revision (required)")
	return cmd
}
