package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newResumeCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "resume APP",
		Short: "Resume a suspended application or its workflow's suspend step, through the agent's API",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := f.client().Resume(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", res.App, res.Message)
			return err
		},
	}
	f.add(cmd)
	return cmd
}
