// Command demo-forge is `make demo-forge`: the pull request flow of
// previews and promotion against a real Gitea. It starts the cached Gitea
// (make gitea) and two local control planes, staging and prod, creates a
// repository holding examples/forge-demo (an app with staging and prod,
// prod pinned in environments/prod.yaml, a preview policy and a promote
// step), and runs the Carina agent in process with the repository's forge
// section and a Gitea webhook. Then, each step timed: a developer opens a
// pull request and gets a preview environment with a commit status; a
// maintainer merges it and staging deploys; after the soak the agent
// opens the promotion pull request to prod; the maintainer merges it and
// prod deploys the pinned revision. Everything keeps running until Ctrl-C,
// or stops at the end with -exit (as the e2e test runs it).
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

// DefaultOptions are the options of `make demo-forge`.
func DefaultOptions() Options {
	return Options{AppDir: "examples/forge-demo", Listen: "127.0.0.1:0", StepTimeout: 2 * time.Minute}
}

func main() {
	walkthrough.Main(DefaultOptions(), "example directory committed to the Gitea repository", run)
}

// run is the whole demo. Everything it starts is stopped before it
// returns: the agent, Gitea, the clusters, the temporary directory.
func run(ctx context.Context, opts Options, w io.Writer) error {
	d := &demo{opts: opts, out: &walkthrough.SyncWriter{W: w}, began: time.Now()}
	dir, err := os.MkdirTemp("", "carina-demo-forge-")
	if err != nil {
		return err
	}
	d.dir = dir
	defer os.RemoveAll(dir)
	stopInfra, err := d.startInfra(ctx)
	if err != nil {
		return err
	}
	defer stopInfra()
	if err := d.createRepo(ctx); err != nil {
		return err
	}
	stopAgent, err := d.startAgent(ctx)
	if err != nil {
		return err
	}
	defer stopAgent()
	steps := []func(context.Context) error{
		d.firstDeploy,
		d.openPullRequest,
		d.mergePullRequest,
		d.awaitPromotion,
		d.mergePromotion,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	d.printWhere()
	if opts.Exit {
		d.step("-exit: stopping the agent, Gitea and both clusters")
		return nil
	}
	d.say("\nEverything keeps running. Press Ctrl-C to stop the agent, Gitea and both clusters.")
	<-ctx.Done()
	d.say("\n==> stopping")
	return nil
}
