package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/source/webhook"
)

// shopAppfile deploys one ConfigMap to staging, then waits for an
// approval, then deploys prod with an override.
func shopAppfile(app, ns, greeting string) string {
	return fmt.Sprintf(`name: %[3]s
services:
  web:
    type: k8s-objects
    objects:
      - apiVersion: v1
        kind: ConfigMap
        metadata: {name: web}
        data: {greeting: %[2]s}
environments:
  staging:
    clusters: [local]
    namespace: %[1]s-staging
  prod:
    clusters: [local]
    namespace: %[1]s-prod
    approval: true
    overrides:
      web:
        objects:
          - apiVersion: v1
            kind: ConfigMap
            metadata: {name: web}
            data: {greeting: %[2]s-prod}
`, ns, greeting, app)
}

// running is an agent started for a test.
type running struct {
	a      *Agent
	addr   string
	client *api.Client
	cancel context.CancelFunc
	done   chan error
	secret []byte
	repo   string
}

// agentConfig writes a configuration for one app source and the test
// cluster and parses it with the real parser.
func agentConfig(t testing.TB, repoURL, leaseNS string, extra string) *config.Config {
	t.Helper()
	return agentConfigAs(t, repoURL, leaseNS, testCluster.Kubeconfig(), extra)
}

// agentConfigAs is agentConfig with another kubeconfig (another user).
func agentConfigAs(t testing.TB, repoURL, leaseNS, kubeconfig string, extra string) *config.Config {
	t.Helper()
	_, cfg := agentConfigFile(t, repoURL, leaseNS, kubeconfig, "127.0.0.1:0", extra)
	return cfg
}

// agentConfigFile writes the configuration and returns its path too.
func agentConfigFile(t testing.TB, repoURL, leaseNS, kubeconfig, listen string, extra string) (string, *config.Config) {
	t.Helper()
	return agentConfigSources(t, fmt.Sprintf("apps: [{name: apps, url: %q, interval: 1h}]", repoURL), leaseNS, kubeconfig, listen, extra)
}

// agentConfigSources is agentConfigFile with the body of the sources
// section given.
func agentConfigSources(t testing.TB, sources, leaseNS, kubeconfig, listen string, extra string) (string, *config.Config) {
	t.Helper()
	return agentConfigClusters(t, sources, clustersYAML("local", kubeconfig), leaseNS, listen, extra)
}

// clustersYAML is the body of a clusters section: pairs of a cluster's
// name and its kubeconfig file, the first being the default cluster.
func clustersYAML(nameKubeconfig ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(nameKubeconfig); i += 2 {
		fmt.Fprintf(&b, "  - name: %s\n    kubeconfig: {file: %s}\n", nameKubeconfig[i], nameKubeconfig[i+1])
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// agentConfigClusters is agentConfigSources with the body of the
// clusters section given (see clustersYAML).
func agentConfigClusters(t testing.TB, sources, clusters, leaseNS, listen string, extra string) (string, *config.Config) {
	t.Helper()
	dir := t.TempDir()
	hook := filepath.Join(dir, "hook-secret")
	tok := filepath.Join(dir, "api-token")
	os.WriteFile(hook, []byte("hook-secret"), 0o600)
	os.WriteFile(tok, []byte("api-token"), 0o600)
	le := "leaderElection: {enabled: false}"
	if leaseNS != "" {
		le = fmt.Sprintf("leaderElection: {namespace: %s, leaseDuration: 4s, renewDeadline: 3s, retryPeriod: 500ms}", leaseNS)
	}
	text := fmt.Sprintf(`
allowFileURLs: true
cacheDir: %s
sources:
  %s
clusters:
%s
webhooks:
  - {provider: generic, secretFile: %s}
server:
  listen: %s
  api: {tokenFile: %s, allowWrites: true}
reconcile: {workers: 4, minBackoff: 200ms, maxBackoff: 5s, stepTimeout: 1m}
%s
%s
`, filepath.Join(dir, "cache"), sources, clusters, hook, listen, tok, le, extra)
	path := filepath.Join(dir, "carina.yaml")
	os.WriteFile(path, []byte(text), 0o600)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, cfg
}

// startAgent builds the clusters and the agent from cfg, as the command
// does, and runs it until the test ends.
func startAgent(t testing.TB, cfg *config.Config) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	clusters, err := BuildClusters(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := New(Options{Config: cfg, Logger: log, Targets: clusters.Targets, ReadSecret: clusters.ReadSecret,
		Events: &KubeEvents{Clients: clusters.Clients, Component: "carina-agent", Host: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &running{a: a, addr: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1),
		secret: []byte("hook-secret"), repo: cfg.Sources.Apps[0].URL}
	r.client = &api.Client{BaseURL: r.addr, Token: "api-token"}
	go func() { r.done <- a.Run(ctx, RunOptions{Clients: clusters.Clients, REST: clusters.REST, Listener: ln}) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t testing.TB) {
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("agent Run: %v", err)
		}
		r.done <- nil
	case <-time.After(15 * time.Second):
		t.Error("agent did not stop within 15 s")
	}
}

// hook posts a signed generic webhook for the repository.
func (r *running) hook(t testing.TB) {
	t.Helper()
	body := fmt.Sprintf(`{"repository": %q, "ref": "refs/heads/main"}`, r.repo)
	req, _ := http.NewRequest(http.MethodPost, r.addr+"/hooks/generic", strings.NewReader(body))
	req.Header.Set("X-Signature-256", "sha256="+webhook.Sign(r.secret, []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook answered %d", resp.StatusCode)
	}
}

func (r *running) metrics(t testing.TB) string {
	t.Helper()
	resp, err := http.Get(r.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (r *running) env(app, env string) (api.EnvStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.client.Env(ctx, app, env)
}

// configMapData reads a ConfigMap's greeting, "" when absent.
func configMapData(t *testing.T, cs kubernetes.Interface, ns, name string) string {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data["greeting"]
}

func testNS(prefix string) string { return fmt.Sprintf("%s-%05d", prefix, rand.IntN(100000)) }

type testWriter struct{ t testing.TB }

var logMu sync.Mutex

func (w testWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestCommitWebhookStagingSuspendResumeProd: a commit is applied to
// staging, prod waits at its approval gate, resume deploys prod with the
// prod override, and a new commit pushed through a webhook redeploys;
// status and metrics are checked at each step.
func TestCommitWebhookStagingSuspendResumeProd(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("wf")
	app := ns + "-shop"
	createNamespaces(t, cs, ns+"-staging", ns+"-prod")
	repo := newGitRepo(t)
	repo.commit("shop v1", map[string]string{app + "/Appfile": shopAppfile(app, ns, "v1")})
	r := startAgent(t, agentConfig(t, repo.url(), "", ""))

	eventually(t, 30*time.Second, "staging applied and healthy", func() (bool, string) {
		e, err := r.env(app, "staging")
		if err != nil {
			return false, err.Error()
		}
		return e.Health == api.HealthHealthy && e.Sync == api.SyncSynced, fmt.Sprintf("%s %s %+v", e.Sync, e.Health, e.LastError)
	})
	if got := configMapData(t, cs, ns+"-staging", "web"); got != "v1" {
		t.Errorf("staging greeting = %q, want v1", got)
	}
	eventually(t, 10*time.Second, "prod waits at the approval", func() (bool, string) {
		app, err := r.client.App(t.Context(), app)
		if err != nil {
			return false, err.Error()
		}
		return stepPhase(app.Workflow, "approve-prod") == api.StepSuspended, fmt.Sprintf("%+v", app.Workflow)
	})
	if got := configMapData(t, cs, ns+"-prod", "web"); got != "" {
		t.Errorf("prod applied before the approval: %q", got)
	}
	m := r.metrics(t)
	for _, want := range []string{
		`carina_reconcile_total{app="` + app + `",env="staging",result="success"}`,
		`carina_app_info{app="` + app + `",cluster="local",env="staging",health="Healthy"`,
		`carina_source_revision_info{revision="main@sha1:`,
		`carina_apply_objects_total{action="created",app="` + app + `",env="staging"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	if _, err := r.client.Resume(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "prod applied with its override", func() (bool, string) {
		got := configMapData(t, cs, ns+"-prod", "web")
		return got == "v1-prod", got
	})
	eventually(t, 10*time.Second, "workflow done", func() (bool, string) {
		app, _ := r.client.App(t.Context(), app)
		return stepPhase(app.Workflow, "deploy-prod") == api.StepSucceeded, fmt.Sprintf("%+v", app.Workflow)
	})
	rendersBefore := r.a.Renders()

	// A new commit, announced by a webhook, redeploys staging at once.
	sha := repo.commit("shop v2", map[string]string{app + "/Appfile": shopAppfile(app, ns, "v2")})
	start := time.Now()
	r.hook(t)
	eventually(t, 20*time.Second, "staging redeployed through the webhook", func() (bool, string) {
		got := configMapData(t, cs, ns+"-staging", "web")
		return got == "v2", got
	})
	t.Logf("commit to applied through a webhook: %s", time.Since(start))
	// The object is live before the apply (prune, inventory) and the
	// health read end; the status records the reconcile after them.
	eventually(t, 10*time.Second, "staging status at the new revision, applied", func() (bool, string) {
		e, err := r.env(app, "staging")
		if err != nil {
			return false, err.Error()
		}
		applied := false
		for _, h := range e.History {
			applied = applied || h.Result == "success" && h.Reason == "applied" && strings.Contains(h.Revision, sha)
		}
		return strings.Contains(e.Revision, sha) && applied, fmt.Sprintf("rev %s, history %+v", e.Revision, e.History)
	})
	if n := r.a.Renders() - rendersBefore; n < 1 {
		t.Errorf("renders after the commit = %d", n)
	}
	if m := r.metrics(t); !strings.Contains(m, `carina_webhook_requests_total{event="push",provider="generic",result="accepted"} 1`) {
		t.Errorf("webhook metric missing:\n%s", grep(m, "carina_webhook"))
	}
	evs, err := cs.CoreV1().Events(ns+"-staging").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, ev := range evs.Items {
		reasons = append(reasons, ev.Reason)
	}
	if !strings.Contains(strings.Join(reasons, ","), "Deployed") {
		t.Errorf("events in staging = %v, want Deployed", reasons)
	}
}

func stepPhase(steps []api.StepStatus, name string) api.StepPhase {
	for _, s := range steps {
		if s.Name == name {
			return s.Phase
		}
		if p := stepPhase(s.SubSteps, name); p != "" {
			return p
		}
	}
	return ""
}

func grep(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
