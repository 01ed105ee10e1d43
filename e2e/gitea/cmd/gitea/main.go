// Command gitea builds the cached Gitea binary (make gitea, with
// -build-only), or starts a local Gitea for people, prints its URL and
// admin token file, and stops it on Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/carina-gitops/carina/e2e/gitea"
)

func main() {
	buildOnly := flag.Bool("build-only", false, "only build (or find) the cached Gitea binary and print its path")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := gitea.DefaultOptions()
	opts.Build.Log = os.Stderr
	if *buildOnly {
		bin, err := gitea.EnsureBinary(ctx, opts.Build)
		if err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		fmt.Println(bin.Path)
		return
	}
	srv, err := gitea.Start(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	tokenFile, err := srv.TokenFile(srv.Dir())
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
	}
	fmt.Printf("gitea %s ready in %s at %s\nadmin: %s / %s, API token in %s\n\nPress Ctrl-C to stop.\n",
		srv.Binary().Version, srv.StartupDuration().Round(1e6), srv.URL, gitea.AdminUser, gitea.AdminPassword, tokenFile)
	<-ctx.Done()
	fmt.Println("\nstopping")
	if err := srv.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
