package agent

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/carina-gitops/carina/render"
	"github.com/carina-gitops/carina/render/pool"
)

// spinDefinition is a component definition whose template does not
// finish in any useful time: 100^6 iterations that produce nothing.
const spinDefinition = `spin: {
	type:        "component"
	description: "A template that never finishes."
}
template: {
	_l: [for i, _ in [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] {i}]
	output: {
		apiVersion: "v1"
		kind:       "ConfigMap"
		metadata: name: context.name
		data: n: "\(len([for a in _l for b in _l for c in _l for d in _l for e in _l for f in _l if false {1}]))"
	}
}
`

// TestRunawayTemplateIsKilledOthersKeepTheirPace: the agent renders in
// worker processes (render.Isolated over render/pool, the carina binary
// as the worker, as `carina agent` wires it) with a 2 s render timeout.
// One app's definition never terminates. Its renders are killed at the
// deadline, its error says so, /readyz and /healthz answer 200
// throughout, and 20 other apps keep their pace: the p95 of their times
// from commit to applied, with the runaway app re-rendered in the same
// commit, stays within a generous bound of the p95 measured in the same
// test without it.
func TestRunawayTemplateIsKilledOthersKeepTheirPace(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("runaway")
	createNamespaces(t, cs, ns)
	const apps, timeout = 20, 2 * time.Second
	bin := buildCarina(t)
	spin := ns + "-spin"
	files := func(greeting string, withSpin bool) map[string]string {
		m := map[string]string{"defs/spin.cue": spinDefinition}
		for i := range apps {
			name := fmt.Sprintf("%s-app%02d", ns, i)
			m[name+"/Appfile"] = simpleAppfile(name, ns, greeting)
		}
		if withSpin {
			// The greeting is a comment: every commit changes the runaway
			// app too, so it is rendered again alongside the others.
			m[spin+"/Appfile"] = fmt.Sprintf("# %s\nname: %s\nnamespace: %s\nservices:\n  spin:\n    type: spin\n", greeting, spin, ns)
		}
		return m
	}
	repo := newGitRepo(t)
	repo.commit("v1", files("v1", false))
	sources := fmt.Sprintf("apps: [{name: apps, url: %q, interval: 1h, definitions: defs}]", repo.url())
	_, cfg := agentConfigSources(t, sources, "", testCluster.Kubeconfig(), "127.0.0.1:0",
		fmt.Sprintf("limits: {render: {timeout: %s, workers: 2}}", timeout))
	workers, err := pool.New(pool.Options{Command: []string{bin}, Workers: cfg.Limits.Render.Workers, MemoryLimit: int64(cfg.Limits.Render.WorkerMemory)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { workers.Close() }) // after the agent stops (clean-ups run last first)
	r, _ := startAgentWith(t, cfg, func(o *Options) { o.Renderer = render.NewIsolated(workers) })
	eventually(t, 120*time.Second, "v1 applied", func() (bool, string) {
		got := len(appliedAt(t, cs, ns, "v1", time.Now()))
		return got == apps, fmt.Sprintf("%d of %d", got, apps)
	})

	var baseline, withRunaway []time.Duration
	for _, v := range []string{"v2", "v3", "v4"} {
		baseline = append(baseline, commitToApplied(t, r, cs, repo, ns, apps, v, files(v, false))...)
	}
	t.Logf("baseline: p95 %s, max %s over %d commits to applied", percentile(baseline, 95), percentile(baseline, 100), len(baseline))

	// Readiness waits for a probe of the clusters that may lag behind the
	// first applies on a loaded machine; it must hold from here on.
	eventually(t, 30*time.Second, "the agent ready", func() (bool, string) {
		code := probe(r.addr, "/readyz")
		return code == http.StatusOK, fmt.Sprint(code)
	})
	probes := startProber(r.addr, 50*time.Millisecond, "/readyz", "/healthz")
	repo.commit("add the runaway app", files("v4", true))
	r.hook(t)
	eventually(t, 30*time.Second, "the runaway render killed at its deadline", func() (bool, string) {
		e, err := r.env(spin, "default")
		if err != nil || e.LastError == nil {
			return false, fmt.Sprint(err)
		}
		return strings.Contains(e.LastError.Message, "worker killed") && strings.Contains(e.LastError.Message, "deadline exceeded"), e.LastError.Message
	})
	for _, v := range []string{"v5", "v6", "v7"} {
		withRunaway = append(withRunaway, commitToApplied(t, r, cs, repo, ns, apps, v, files(v, true))...)
	}
	bad, count := probes.finish()

	p95Base, p95Run := percentile(baseline, 95), percentile(withRunaway, 95)
	bound := max(3*p95Base, p95Base+3*timeout)
	t.Logf("with the runaway app: p95 %s, max %s (baseline p95 %s, bound %s)", p95Run, percentile(withRunaway, 100), p95Base, bound)
	if p95Run > bound {
		t.Errorf("the other apps' p95 from commit to applied is %s with a runaway render, over the bound %s (baseline %s)", p95Run, bound, p95Base)
	}
	if len(bad) > 0 {
		t.Errorf("probes that were not 200 while the runaway app rendered (%s): %v", count, bad)
	} else {
		t.Logf("readiness and health probes during the runaway renders: %s, all 200", count)
	}

	// Every render of the runaway app ended at its deadline, not later:
	// the history keeps each failed reconcile (a render, nothing else)
	// with its duration.
	e := mustEnv(t, r, spin, "default")
	killed := 0
	for _, h := range e.History {
		if h.Result != "error" || !strings.Contains(h.Error, "deadline exceeded") {
			continue
		}
		killed += max(h.Count, 1) // repeated failures count up in one entry
		if h.Duration < timeout || h.Duration > timeout+1500*time.Millisecond {
			t.Errorf("a render of the runaway app ended after %s, want at its %s deadline", h.Duration, timeout)
		}
	}
	if killed < 2 {
		t.Errorf("the history shows %d renders of the runaway app killed at the deadline, want at least 2: %+v", killed, e.History)
	}
	t.Logf("the runaway app's renders killed at the deadline (in its history): %d", killed)
	if e.LastError == nil || !strings.Contains(e.LastError.Message, "deadline exceeded") {
		t.Errorf("the runaway app's error = %+v, want its deadline", e.LastError)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), spin, metav1.GetOptions{}); err == nil {
		t.Error("the runaway app's ConfigMap exists")
	}
	if code := probe(r.addr, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz at the end = %d", code)
	}
}

// commitToApplied commits files, announces the commit by a webhook and
// returns, for each of the apps, the time from the commit until its
// ConfigMap holds greeting.
func commitToApplied(t *testing.T, r *running, cs kubernetes.Interface, repo *gitRepo, ns string, apps int, greeting string, files map[string]string) []time.Duration {
	t.Helper()
	repo.commit(greeting, files)
	start := time.Now()
	r.hook(t)
	seen := map[string]time.Duration{}
	deadline := start.Add(120 * time.Second)
	for len(seen) < apps {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d apps applied at %s within 120 s", len(seen), apps, greeting)
		}
		for name, at := range appliedAt(t, cs, ns, greeting, start) {
			if _, ok := seen[name]; !ok {
				seen[name] = at
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	out := make([]time.Duration, 0, apps)
	for _, d := range seen {
		out = append(out, d)
	}
	return out
}

// appliedAt lists the ConfigMaps of ns that hold greeting, with the time
// since start.
func appliedAt(t *testing.T, cs kubernetes.Interface, ns, greeting string, start time.Time) map[string]time.Duration {
	t.Helper()
	list, err := cs.CoreV1().ConfigMaps(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Since(start)
	out := map[string]time.Duration{}
	for _, cm := range list.Items {
		if cm.Data["greeting"] == greeting {
			out[cm.Name] = now
		}
	}
	return out
}
