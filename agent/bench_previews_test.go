package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/e2e/gitea"
)

// previewBenchApp is an Appfile of 20 ConfigMaps whose data carries gen,
// with a preview policy that lets every pull request of the benchmark
// run at once, as a service account bound in the preview namespace.
func previewBenchApp(name, ns string, gen int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nnamespace: %s\nservices:\n  cfg:\n    type: k8s-objects\n    objects:\n", name, ns)
	for i := range 20 {
		fmt.Fprintf(&b, "      - {apiVersion: v1, kind: ConfigMap, metadata: {name: cm-%02d}, data: {gen: %q}}\n", i, fmt.Sprint(gen))
	}
	b.WriteString("policies:\n  - name: previews\n    type: preview\n    properties: {maxPreviews: 25, serviceAccount: previewer}\n")
	return b.String()
}

// hookClock is a loopback proxy in front of the agent's Gitea webhook
// receiver: it notes when each pull request's "opened" delivery
// arrives, then passes the request on unchanged (the signature holds).
type hookClock struct {
	target string
	mu     sync.Mutex
	opened map[int]time.Time
}

func (h *hookClock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, 3<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var ev struct {
		Action string `json:"action"`
		Number int    `json:"number"`
	}
	if r.Header.Get("X-Gitea-Event") == "pull_request" && json.Unmarshal(body, &ev) == nil && ev.Action == "opened" {
		h.mu.Lock()
		if _, seen := h.opened[ev.Number]; !seen {
			h.opened[ev.Number] = at
		}
		h.mu.Unlock()
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, h.target, bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

func (h *hookClock) arrived(number int) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	at, ok := h.opened[number]
	return at, ok
}

// BenchmarkPreviewOpenedToHealthy measures, over 20 pull requests opened
// one after the other on a real Gitea, the time from the pull request's
// "opened" webhook reaching the agent until its preview of a 20-object
// app is applied and healthy in its own namespace on the real control
// plane (the agent's status says Synced and Healthy at the pull request's
// head): the forge listing, the fetch of refs/pull/N/head, the render,
// the namespace, service account and RoleBinding, and the apply as that
// account. It reports p50 and p95, the p50 from the API call that opens
// the pull request (open-p50-ms, which adds Gitea's own work), and the
// p50 of that work alone, from the call to the webhook's arrival
// (gitea-hook-p50-ms). The earlier previews stay open, so the last
// listing holds 20 pull requests.
//
// For comparison, Argo CD's pull request generator finds a new pull
// request when it next polls the forge: every 30 minutes by default
// (requeueAfterSeconds 1800), unless a webhook is set up for the
// ApplicationSet controller.
func BenchmarkPreviewOpenedToHealthy(b *testing.B) {
	if testCluster == nil {
		b.Skip("needs the local control plane and Gitea (not in -short mode)")
	}
	srv, err := gitea.Start(context.Background(), gitea.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	for range b.N {
		l := previewLatencies(b, srv, 20)
		slices.Sort(l.fromHook)
		b.ReportMetric(float64(percentile(l.fromHook, 50).Milliseconds()), "p50-ms")
		b.ReportMetric(float64(percentile(l.fromHook, 95).Milliseconds()), "p95-ms")
		b.ReportMetric(float64(percentile(l.fromOpen, 50).Milliseconds()), "open-p50-ms")
		b.ReportMetric(float64(percentile(l.hookDelay, 50).Milliseconds()), "gitea-hook-p50-ms")
		b.Logf("webhook to preview healthy over %d pull requests: p50 %s, p95 %s, max %s; from the API call that opens it: p50 %s, of which Gitea's delivery of the webhook: p50 %s (the call itself returned after p50 %s)",
			len(l.fromHook), percentile(l.fromHook, 50), percentile(l.fromHook, 95), l.fromHook[len(l.fromHook)-1],
			percentile(l.fromOpen, 50), percentile(l.hookDelay, 50), percentile(l.openCall, 50))
	}
}

// latencies are the times of each pull request of a run.
type latencies struct {
	// fromHook and fromOpen run from the webhook's arrival and from the
	// API call that opened the pull request until its preview is applied
	// and healthy; hookDelay from that call to the webhook's arrival,
	// openCall until the call returned.
	fromHook, fromOpen, hookDelay, openCall []time.Duration
}

// previewLatencies opens prs pull requests on a new repository, one
// after the other, and times each preview.
func previewLatencies(b *testing.B, srv *gitea.Server, prs int) latencies {
	cs, err := testCluster.Client()
	if err != nil {
		b.Fatal(err)
	}
	name := testNS("pvbench")
	repo := srv.CreateRepo(b, name)
	file := name + "/Appfile"
	srv.CommitFiles(b, repo, "main", "", map[string]string{file: previewBenchApp(name, name, 0)}, "20 objects with previews")

	// The agent logs to a buffer, shown only when the benchmark fails
	// (a benchmark's log is always printed).
	logs := &lockedBuffer{}
	r, _ := startAgentWith(b, previewBenchConfig(b, srv, repo), func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	defer r.stop(b)
	defer func() {
		if b.Failed() {
			b.Log(logs.String())
		}
	}()
	clock := &hookClock{target: r.addr + "/hooks/gitea", opened: map[int]time.Time{}}
	proxy := &http.Server{Handler: clock, ReadHeaderTimeout: 5 * time.Second}
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = proxy.Serve(pln) }()
	defer proxy.Close()
	srv.AddWebhook(b, repo, "http://"+pln.Addr().String(), "hook-secret", "pull_request")
	waitFor(b, 60*time.Second, "main deployed", func() bool {
		e, err := r.env(name, "default")
		return err == nil && e.Sync == api.SyncSynced && e.Health == api.HealthHealthy
	})

	var out latencies
	var last time.Time
	for i := 1; i <= prs; i++ {
		branch := fmt.Sprintf("pr-%02d", i)
		head := srv.CommitFiles(b, repo, "main", branch, map[string]string{file: previewBenchApp(name, name, i)}, "gen "+fmt.Sprint(i))
		srv.WaitBranch(b, repo, branch, head)
		// The webhook queue wakes one repository at most once a second
		// (its flood cooldown): pull requests a little further apart
		// measure the path itself.
		time.Sleep(time.Until(last.Add(1100 * time.Millisecond)))
		opening := time.Now()
		pr := srv.OpenPR(b, repo, branch, "main", "preview "+branch, "")
		out.openCall = append(out.openCall, time.Since(opening))
		env := fmt.Sprintf("pr-%d", pr.Number)
		waitFor(b, 60*time.Second, env+" applied and healthy", func() bool {
			e, err := r.env(name, env)
			return err == nil && e.Preview != nil && e.Preview.Head == head && e.Sync == api.SyncSynced && e.Health == api.HealthHealthy
		})
		done := time.Now()
		hook, ok := clock.arrived(pr.Number)
		if !ok {
			b.Fatalf("PR #%d: its preview is healthy but no opened webhook arrived", pr.Number)
		}
		last = hook
		out.fromHook = append(out.fromHook, done.Sub(hook))
		out.fromOpen = append(out.fromOpen, done.Sub(opening))
		out.hookDelay = append(out.hookDelay, hook.Sub(opening))
		// Outside the timing: the 20 objects are there, at this pull
		// request's content, in its namespace.
		ns := fmt.Sprintf("%s-pr-%d", name, pr.Number)
		list, err := cs.CoreV1().ConfigMaps(ns).List(b.Context(), metav1.ListOptions{LabelSelector: "app.carina.dev/env=" + env})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, cm := range list.Items {
			if cm.Data["gen"] == fmt.Sprint(i) {
				n++
			}
		}
		if n != 20 {
			b.Fatalf("%s: %d of 20 ConfigMaps at generation %d", ns, n, i)
		}
	}
	return out
}

// previewBenchConfig is an agent config for repo on srv with its forge
// section and a Gitea webhook receiver; the source polls hourly, so the
// previews are the webhooks' doing.
func previewBenchConfig(b *testing.B, srv *gitea.Server, repo gitea.Repo) *config.Config {
	dir := b.TempDir()
	tok, err := srv.TokenFile(dir)
	if err != nil {
		b.Fatal(err)
	}
	hook, apiTok := filepath.Join(dir, "hook-secret"), filepath.Join(dir, "api-token")
	for p, v := range map[string]string{hook: "hook-secret", apiTok: "api-token"} {
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	text := fmt.Sprintf(`
cacheDir: %s
sources:
  apps:
    - name: apps
      url: %q
      interval: 1h
      auth: {username: %s, passwordFile: %s}
      forge: {kind: gitea, apiURL: %q, tokenFile: %s}
clusters:
  - name: local
    kubeconfig: {file: %s}
webhooks:
  - {provider: gitea, secretFile: %s}
server:
  listen: 127.0.0.1:0
  api: {tokenFile: %s, allowWrites: true}
reconcile: {workers: 4, minBackoff: 200ms, maxBackoff: 5s, stepTimeout: 1m}
leaderElection: {enabled: false}
`, filepath.Join(dir, "cache"), repo.CloneURL, gitea.AdminUser, tok, srv.APIURL(), tok, testCluster.Kubeconfig(), hook, apiTok)
	path := filepath.Join(dir, "carina.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	return cfg
}

// waitFor polls cond every 5 ms until it holds, or fails the benchmark
// after timeout.
func waitFor(b *testing.B, timeout time.Duration, what string, cond func() bool) {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
