package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// exitError carries a specific process exit code (for example `carina diff`
// exits 1 when something would change).
type exitError struct {
	code int
	err  error
	// quiet is for exit codes that report a result, not a failure (diff
	// found changes): nothing is printed on stderr.
	quiet bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "carina",
		Short:         "Carina keeps Kubernetes clusters in the state that Git declares",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newVersionCmd())
	root.AddCommand(newAgentCmd())
	root.AddCommand(newStatusCmd())
	root.AddCommand(newResumeCmd())
	root.AddCommand(newPruneCmd())
	root.AddCommand(newRenderCmd())
	root.AddCommand(newDefsCmd())
	root.AddCommand(newMigrateCmd())
	root.AddCommand(newApplyCmd())
	root.AddCommand(newDiffCmd())
	root.AddCommand(newPromoteCmd())
	return root
}
