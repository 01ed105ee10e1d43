// Command cluster starts one local control plane for people (make cluster),
// prints its kubeconfig path, and stops it on Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/carina-gitops/carina/e2e/cluster"
)

func main() {
	nodes := flag.Int("nodes", 1, "number of kwok fake nodes")
	name := flag.String("name", "local", "cluster name")
	buildOnly := flag.Bool("build-only", false, "only build (or find) the cached binaries and print their directory")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := cluster.DefaultOptions()
	opts.Name, opts.Nodes, opts.Build.Log = *name, *nodes, os.Stderr
	if *buildOnly {
		bins, err := cluster.EnsureBinaries(ctx, opts.Build)
		if err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		fmt.Println(bins.Dir)
		return
	}
	c, err := cluster.Start(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	fmt.Printf("cluster %q ready in %s at %s\n", *name, c.StartupDuration().Round(1e6), c.Server())
	fmt.Printf("kubeconfig: %s\n\n  export KUBECONFIG=%s\n  %s get nodes\n\nPress Ctrl-C to stop.\n", c.Kubeconfig(), c.Kubeconfig(), c.Binaries().Kubectl)
	<-ctx.Done()
	fmt.Println("\nstopping")
	if err := c.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
