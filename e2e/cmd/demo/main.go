// Command demo is `make demo`, the quick start: it starts two local
// control planes (staging and prod), serves examples/demo/app as a Git
// repository over git http-backend on loopback, and runs the Carina agent
// in process against them. The terminal follows the application as the
// agent deploys it to staging, holds it at a suspend gate, promotes it to
// prod with the prod override once resumed through the agent's API, and
// redeploys a commit announced by a signed webhook, undoes a kubectl
// edit, and deploys a pull request as a preview environment in a
// namespace of its own until the pull request closes; it ends with the
// status table. Everything keeps running until Ctrl-C, or stops at the
// end with -exit (as the e2e test runs it).
package main

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/carina-gitops/carina/e2e/walkthrough"
)

// Options configure a run of the demo.
type Options = walkthrough.Options

// DefaultOptions are the options of `make demo`.
func DefaultOptions() Options {
	return Options{AppDir: "examples/demo/app", Listen: "127.0.0.1:0", StepTimeout: 2 * time.Minute}
}

func main() {
	walkthrough.Main(DefaultOptions(), "example application directory to serve from Git", run)
}

// run is the whole demo. Everything it starts is stopped before it
// returns: the agent, the Git server, the clusters.
func run(ctx context.Context, opts Options, w io.Writer) error {
	out := &walkthrough.SyncWriter{W: w}
	d := &demo{opts: opts, out: out, app: "hello"}
	dir, err := os.MkdirTemp("", "carina-demo-")
	if err != nil {
		return err
	}
	d.dir = dir
	defer os.RemoveAll(dir)
	if err := d.startClusters(ctx); err != nil {
		return err
	}
	defer d.stopClusters()
	stopGit, err := d.serveRepo(ctx)
	if err != nil {
		return err
	}
	defer stopGit()
	stopAgent, err := d.startAgent(ctx)
	if err != nil {
		return err
	}
	defer stopAgent()
	if err := d.walkThrough(ctx); err != nil {
		return err
	}
	d.printWhere()
	if opts.Exit {
		d.say("==> -exit: stopping the agent, the Git server and both clusters")
		return nil
	}
	d.say("\nEverything keeps running. Press Ctrl-C to stop the agent, the Git server and both clusters.")
	<-ctx.Done()
	d.say("\n==> stopping")
	return nil
}

// walkThrough is the story the terminal tells, step by step.
func (d *demo) walkThrough(ctx context.Context) error {
	steps := []func(context.Context) error{
		d.showStaging,
		d.showGate,
		d.resumeToProd,
		d.commitAndWebhook,
		d.promoteAgain,
		d.undoEdit,
		d.openPullRequest,
		d.closePullRequest,
		d.showStatusTable,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}
