package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/e2e/cluster"
	"github.com/carina-gitops/carina/e2e/gitserver"
	"github.com/carina-gitops/carina/e2e/walkthrough"
)

// envNames are the environments of the example, in promotion order; each
// has a cluster of the same name.
var envNames = []string{"staging", "prod"}

// demo is the state of one run.
type demo struct {
	opts Options
	out  io.Writer
	app  string
	dir  string // temporary: repositories, config, secrets, agent log

	clusters map[string]*cluster.Cluster
	kube     map[string]kubernetes.Interface

	repos   *gitserver.Repos
	work    string // the working clone the demo commits in
	repoURL string

	agentURL   string
	client     *api.Client
	hookSecret []byte
	cfgPath    string
	logPath    string

	// forge is the stand-in for GitHub's pull request and commit
	// status API (forge.go).
	forge *standIn
}

// forgeRepo is the repository's owner/name on the stand-in forge.
const forgeRepo = "carina/demo"

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

// startClusters starts the staging and prod control planes in parallel.
func (d *demo) startClusters(ctx context.Context) error {
	d.say("==> starting two local clusters, staging and prod (etcd, kube-apiserver, controller-manager, scheduler, kwok)")
	cs := make([]*cluster.Cluster, len(envNames))
	g, gctx := errgroup.WithContext(ctx)
	for i, name := range envNames {
		g.Go(func() error {
			opts := cluster.DefaultOptions()
			opts.Name, opts.Build.Log = name, d.out
			c, err := cluster.Start(gctx, opts)
			if err != nil {
				return fmt.Errorf("cluster %s: %w", name, err)
			}
			cs[i] = c
			d.say("    %-7s ready in %s  kubeconfig %s", name, c.StartupDuration().Round(time.Millisecond), c.Kubeconfig())
			return nil
		})
	}
	err := g.Wait()
	d.clusters, d.kube = map[string]*cluster.Cluster{}, map[string]kubernetes.Interface{}
	for i, c := range cs {
		if c != nil {
			d.clusters[envNames[i]] = c
		}
	}
	if err != nil {
		d.stopClusters()
		return err
	}
	for name, c := range d.clusters {
		if d.kube[name], err = c.Client(); err != nil {
			d.stopClusters()
			return err
		}
	}
	return nil
}

func (d *demo) stopClusters() {
	for _, c := range d.clusters {
		_ = c.Stop()
	}
}

// serveRepo makes the bare repository "demo" holding the example app,
// a working clone to commit in, and serves it over HTTP on loopback.
func (d *demo) serveRepo(ctx context.Context) (func(), error) {
	d.repos = &gitserver.Repos{Dir: filepath.Join(d.dir, "git")}
	d.work = filepath.Join(d.dir, "work")
	bare := d.repos.Bare("demo")
	if err := os.MkdirAll(d.repos.Dir, 0o755); err != nil {
		return nil, err
	}
	if err := copyDir(d.opts.AppDir, filepath.Join(d.work, d.app)); err != nil {
		return nil, fmt.Errorf("example %s: %w", d.opts.AppDir, err)
	}
	for _, args := range [][]string{
		{"init", "-q", "--bare", bare},
		{"-C", d.work, "init", "-q", "-b", "main"},
		{"-C", d.work, "remote", "add", "origin", bare},
		{"-C", d.work, "add", "-A"},
		{"-C", d.work, "commit", "-q", "-m", "hello 1.0.0"},
		{"-C", d.work, "push", "-q", "origin", "main"},
	} {
		if _, err := gitserver.RunGit(d.dir, nil, nil, args...); err != nil {
			return nil, err
		}
	}
	srv, err := gitserver.Serve(ctx, d.repos, gitserver.HTTPOptions{})
	if err != nil {
		return nil, err
	}
	d.repoURL = srv.RepoURL("demo")
	head, _ := gitserver.RunGit(d.work, nil, nil, "rev-parse", "--short", "HEAD")
	d.say("==> serving %s as a Git repository at %s (main at %s, git http-backend)", d.opts.AppDir, d.repoURL, head)
	return func() { _ = srv.Close() }, nil
}

// startAgent writes carina.yaml, loads it with the real parser and runs
// the agent in process, as `carina agent --config` does. It starts the
// stand-in forge API the config names first.
func (d *demo) startAgent(ctx context.Context) (func(), error) {
	token, secret, forgeToken := walkthrough.RandomHex(), walkthrough.RandomHex(), walkthrough.RandomHex()
	d.hookSecret = []byte(secret)
	d.cfgPath = filepath.Join(d.dir, "carina.yaml")
	d.logPath = filepath.Join(d.dir, "agent.log")
	fg, stopForge, err := startStandIn(ctx, forgeRepo, forgeToken)
	if err != nil {
		return nil, err
	}
	d.forge = fg
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", d.opts.Listen)
	if err != nil {
		stopForge()
		return nil, err
	}
	d.agentURL = "http://" + ln.Addr().String()
	files := map[string]string{"api-token": token, "webhook-secret": secret, "forge-token": forgeToken, "carina.yaml": d.configText()}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(d.dir, name), []byte(content), 0o600); err != nil {
			ln.Close()
			stopForge()
			return nil, err
		}
	}
	a, err := walkthrough.StartAgent(ctx, walkthrough.AgentOptions{Config: d.cfgPath, Log: d.logPath, Listener: ln, Token: token})
	if err != nil {
		stopForge()
		return nil, err
	}
	d.client = a.Client
	d.say("==> agent running in process: API %s, config %s", d.agentURL, d.cfgPath)
	return func() {
		if err := a.Stop(); err != nil {
			d.say("    %v", err)
		}
		stopForge()
	}, nil
}

// configText is the demo's carina.yaml. The source polls every minute,
// so the redeploy the demo measures is the webhook's doing. Its forge
// section names the stand-in GitHub API: the agent lists the open pull
// requests there (previews) and posts its commit statuses there.
func (d *demo) configText() string {
	return fmt.Sprintf(`# carina.yaml written by make demo
cacheDir: %s
sources:
  apps:
    - name: demo
      url: %q
      branch: main
      interval: 1m
      forge: {kind: github, apiURL: %q, repo: %s, tokenFile: %s, statusURL: %q}
clusters:
  - name: staging
    kubeconfig: {file: %s}
  - name: prod
    kubeconfig: {file: %s}
webhooks:
  - {provider: github, secretFile: %s}
server:
  listen: %q
  api: {tokenFile: %s, allowWrites: true}
reconcile: {workers: 4, minBackoff: 200ms, maxBackoff: 5s, stepTimeout: 2m}
leaderElection: {enabled: false}
`, filepath.Join(d.dir, "cache"), d.repoURL, d.forge.url, forgeRepo, filepath.Join(d.dir, "forge-token"), d.agentURL,
		d.clusters["staging"].Kubeconfig(), d.clusters["prod"].Kubeconfig(),
		filepath.Join(d.dir, "webhook-secret"), d.opts.Listen, filepath.Join(d.dir, "api-token"))
}

// copyDir copies the regular files under src to dst (no symlinks).
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case e.IsDir():
			return os.MkdirAll(target, 0o755)
		case !e.Type().IsRegular():
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}
