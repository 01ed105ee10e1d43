package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/e2e/cluster"
	"github.com/carina-gitops/carina/e2e/gitea"
	"github.com/carina-gitops/carina/e2e/walkthrough"
	"github.com/carina-gitops/carina/source/forge"
)

// The example's names.
const (
	app       = "shop"
	appFile   = "shop/app.yaml"
	pinFile   = "environments/prod.yaml"
	component = "web"
	// The two people of the story, besides the agent's bot account: a
	// developer who opens pull requests, and the admin who owns the
	// repository and merges (gitea.AdminUser).
	developer = "ann"
	bot       = "carina-bot"
)

// clusterNames are the clusters, one per environment of the example.
var clusterNames = []string{"staging", "prod"}

// demo is the state of one run.
type demo struct {
	opts  Options
	out   io.Writer
	dir   string // temporary: config, tokens, agent log
	began time.Time

	clusters map[string]*cluster.Cluster
	kube     map[string]kubernetes.Interface

	gitea *gitea.Server
	repo  gitea.Repo
	ann   gitea.User
	bot   gitea.User
	// forge reads what the forge shows (statuses), as the admin.
	forge *forge.Client
	// v1 is the first release, the one prod is pinned to at first.
	v1 string

	// preview is the developer's pull request, promotion the agent's;
	// release the merge commit of the first, prURLs both pages.
	preview, promotion gitea.PR
	release            string
	prURLs             []string
	// stagingHealthy is when staging was healthy at the release.
	stagingHealthy time.Time

	agent   *walkthrough.Agent
	client  *api.Client
	cfgPath string
	logPath string
	hookURL string
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

// step starts a step of the story, with the time since the demo began.
func (d *demo) step(format string, args ...any) {
	fmt.Fprintf(d.out, "==> [%5.1fs] %s\n", time.Since(d.began).Seconds(), fmt.Sprintf(format, args...))
}

// startInfra starts Gitea and the staging and prod control planes in
// parallel; the returned func stops them.
func (d *demo) startInfra(ctx context.Context) (func(), error) {
	d.step("starting Gitea and two local clusters, staging and prod")
	cs := make([]*cluster.Cluster, len(clusterNames))
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		opts := gitea.DefaultOptions()
		opts.Build.Log = d.out
		srv, err := gitea.Start(gctx, opts)
		if err != nil {
			return err
		}
		d.gitea = srv
		d.say("    gitea   %s ready in %s at %s", srv.Binary().Version, srv.StartupDuration().Round(time.Millisecond), srv.URL)
		return nil
	})
	for i, name := range clusterNames {
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
			d.clusters[clusterNames[i]] = c
		}
	}
	stop := func() {
		for _, c := range d.clusters {
			_ = c.Stop()
		}
		if d.gitea != nil {
			_ = d.gitea.Stop()
		}
	}
	if err != nil {
		stop()
		return nil, err
	}
	for name, c := range d.clusters {
		if d.kube[name], err = c.Client(); err != nil {
			stop()
			return nil, err
		}
	}
	return stop, nil
}

// createRepo creates the repository shop with the example app, the
// developer and the agent's bot account (both with write access), and
// pins prod to the first commit.
func (d *demo) createRepo(ctx context.Context) error {
	files, err := readExample(d.opts.AppDir)
	if err != nil {
		return err
	}
	if _, ok := files[appFile]; !ok {
		return fmt.Errorf("example %s has no %s", d.opts.AppDir, appFile)
	}
	if d.repo, err = d.gitea.NewRepo(ctx, app); err != nil {
		return err
	}
	if d.ann, err = d.gitea.CreateUser(ctx, developer, d.repo); err != nil {
		return err
	}
	if d.bot, err = d.gitea.CreateUser(ctx, bot, d.repo); err != nil {
		return err
	}
	if d.v1, err = d.gitea.Commit(ctx, d.repo, "main", "", files, "shop 1.0.0"); err != nil {
		return err
	}
	pin := fmt.Sprintf("# prod deploys this revision; promotion pull requests move it\nrevision: %s\n", d.v1)
	pinned, err := d.gitea.Commit(ctx, d.repo, "main", "", map[string]string{pinFile: pin}, "pin prod to shop 1.0.0")
	if err != nil {
		return err
	}
	tok, err := d.gitea.TokenFile(d.dir)
	if err != nil {
		return err
	}
	if d.forge, err = forge.New(forge.Options{Kind: forge.Gitea, BaseURL: d.gitea.APIURL(), Repo: d.repo.FullName, TokenFile: tok}); err != nil {
		return err
	}
	d.step("repository %s: %s (shop 1.0.0, %s), then %s pinning prod to it (%s)", d.repo.HTMLURL, appFile, d.v1[:12], pinFile, pinned[:12])
	d.say("    users: %s (owner, merges), %s (opens pull requests), %s (the agent's token: write access)", gitea.AdminUser, developer, bot)
	return nil
}

// readExample reads the example's files, by slash path.
func readExample(dir string) (map[string]string, error) {
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = string(data)
		return err
	})
	return files, err
}

// startAgent writes carina.yaml (the source with its forge section, the
// bot's token, a Gitea webhook receiver), runs the agent in process and
// adds the repository's webhook to it.
func (d *demo) startAgent(ctx context.Context) (func(), error) {
	token, secret := walkthrough.RandomHex(), walkthrough.RandomHex()
	d.cfgPath = filepath.Join(d.dir, "carina.yaml")
	d.logPath = filepath.Join(d.dir, "agent.log")
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", d.opts.Listen)
	if err != nil {
		return nil, err
	}
	agentURL := "http://" + ln.Addr().String()
	d.hookURL = agentURL + "/hooks/gitea"
	files := map[string]string{"api-token": token, "webhook-secret": secret, "bot-token": d.bot.Token, "carina.yaml": d.configText(agentURL)}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(d.dir, name), []byte(content), 0o600); err != nil {
			ln.Close()
			return nil, err
		}
	}
	if d.agent, err = walkthrough.StartAgent(ctx, walkthrough.AgentOptions{Config: d.cfgPath, Log: d.logPath, Listener: ln, Token: token}); err != nil {
		return nil, err
	}
	d.client = d.agent.Client
	stop := func() {
		if err := d.agent.Stop(); err != nil {
			d.say("    %v", err)
		}
	}
	events := []string{"push", "pull_request", "pull_request_sync"}
	if err := d.gitea.CreateWebhook(ctx, d.repo, d.hookURL, secret, events...); err != nil {
		stop()
		return nil, err
	}
	d.step("agent running in process: API %s, config %s", agentURL, d.cfgPath)
	for _, l := range strings.Split(d.configText(agentURL), "\n") {
		if strings.Contains(l, "forge:") || strings.Contains(l, "provider: gitea") {
			d.say("    carina.yaml: %s", strings.TrimSpace(l))
		}
	}
	d.say("    Gitea webhook of %s: %s for %s, signed with the secret in webhook-secret", d.repo.FullName, d.hookURL, strings.Join(events, ", "))
	return stop, nil
}

// configText is the demo's carina.yaml. The source polls every minute;
// Gitea's webhooks are what moves the story on.
func (d *demo) configText(agentURL string) string {
	return fmt.Sprintf(`# carina.yaml written by make demo-forge
cacheDir: %[1]s/cache
sources:
  apps:
    - name: shop
      url: %[2]q
      branch: main
      interval: 1m
      auth: {username: %[3]s, passwordFile: %[1]s/bot-token}
      forge: {kind: gitea, apiURL: %[4]q, tokenFile: %[1]s/bot-token, statusURL: %[5]q}
clusters:
  - name: staging
    kubeconfig: {file: %[6]s}
  - name: prod
    kubeconfig: {file: %[7]s}
webhooks:
  - {provider: gitea, secretFile: %[1]s/webhook-secret}
server:
  listen: %[8]q
  api: {tokenFile: %[1]s/api-token, allowWrites: true}
reconcile: {workers: 4, minBackoff: 200ms, maxBackoff: 5s, stepTimeout: 2m}
leaderElection: {enabled: false}
`, d.dir, d.repo.CloneURL, bot, d.gitea.APIURL(), agentURL,
		d.clusters["staging"].Kubeconfig(), d.clusters["prod"].Kubeconfig(), d.opts.Listen)
}
