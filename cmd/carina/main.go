// Command carina is Carina's single binary: the GitOps agent and the
// commands that give people the same engine by hand. This package holds
// flags and wiring only.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/carina-gitops/carina/render"
	"github.com/carina-gitops/carina/render/pool"
	"github.com/carina-gitops/carina/source"
)

func main() {
	// A render worker is this binary re-executed by the render pool.
	if pool.IsWorker() {
		pool.ServeMain(context.Background(), render.WorkerHandler(source.DirFS))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		var ee *exitError
		if !errors.As(err, &ee) || !ee.quiet {
			fmt.Fprintln(os.Stderr, "error:", err)
		}
		os.Exit(exitCode(err))
	}
}
