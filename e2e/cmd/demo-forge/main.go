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
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// Options configure a run of the demo.
type Options struct {
	// AppDir is the example copied into the repository: a directory per
	// application (the demo expects shop/app.yaml).
	AppDir string
	// Exit stops everything once the walk-through is done.
	Exit bool
	// Listen is the agent's API address; port 0 picks a free one.
	Listen string
	// StepTimeout bounds each wait of the walk-through.
	StepTimeout time.Duration
}

// DefaultOptions are the options of `make demo-forge`.
func DefaultOptions() Options {
	return Options{AppDir: "examples/forge-demo", Listen: "127.0.0.1:0", StepTimeout: 2 * time.Minute}
}

func main() {
	opts := DefaultOptions()
	flag.StringVar(&opts.AppDir, "app", opts.AppDir, "example directory committed to the Gitea repository")
	flag.BoolVar(&opts.Exit, "exit", false, "stop everything and exit once the walk-through is done")
	flag.StringVar(&opts.Listen, "listen", opts.Listen, "the agent's API address (loopback)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// run is the whole demo. Everything it starts is stopped before it
// returns: the agent, Gitea, the clusters, the temporary directory.
func run(ctx context.Context, opts Options, w io.Writer) error {
	d := &demo{opts: opts, out: &syncWriter{w: w}, began: time.Now()}
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

// syncWriter serialises writes from the parallel starts.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
