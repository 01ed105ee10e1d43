package agent

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/capabilities"
	"github.com/carina-gitops/carina/render"
)

// panickyRenderer renders with the real engine, but panics once, when
// armed, for one app: a bug in a render engine.
type panickyRenderer struct {
	app   string
	armed atomic.Bool
	fired atomic.Int32
}

func (p *panickyRenderer) Render(ctx context.Context, app *appfile.Application, env appfile.Environment, reg *capabilities.Registry, fsys fs.FS, opts render.Options) (*render.Result, error) {
	if app.Name == p.app && p.armed.CompareAndSwap(true, false) {
		p.fired.Add(1)
		var m map[string]int
		m["injected render panic"]++ // a runtime error, as a real bug would raise
	}
	return render.Render(ctx, app, env, reg, fsys, opts)
}

// panickyTarget is the real cluster, whose Apply panics once, when
// armed, for one app: a bug in an apply engine.
type panickyTarget struct {
	*apply.Manager
	app   string
	armed atomic.Bool
	fired atomic.Int32
}

func (p *panickyTarget) Apply(ctx context.Context, set *apply.Set, opts apply.ApplyOptions) (*apply.ChangeSet, error) {
	if set.App == p.app && p.armed.CompareAndSwap(true, false) {
		p.fired.Add(1)
		panic(fmt.Sprintf("injected apply panic for %s", set.App))
	}
	return p.Manager.Apply(ctx, set, opts)
}

// TestPanicsFailOneItemNeverTheAgent: a render panics for one app and an
// apply panics for another, both in the reconcile of a new commit. The
// agent keeps answering /healthz, /readyz and the API throughout; the
// other apps get the commit applied; the next reconcile of each
// panicking app applies it too; carina_panics_total counts one render
// and one apply panic; the log holds each panic's stack, and the status
// API the failed reconcile.
//
// A panic in a webhook parse is not injected here: the parsers are a
// private table of source/webhook and the agent builds its receivers
// from the configuration only, so there is no seam to reach one from the
// agent. source/webhook TestParserPanicFailsOnlyThatRequest injects it
// into the receiver the agent uses.
func TestPanicsFailOneItemNeverTheAgent(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("panic")
	createNamespaces(t, cs, ns)
	renderApp, applyApp := ns+"-render", ns+"-apply"
	apps := []string{renderApp, applyApp, ns + "-ok1", ns + "-ok2"}
	files := func(greeting string) map[string]string {
		m := map[string]string{}
		for _, a := range apps {
			m[a+"/Appfile"] = simpleAppfile(a, ns, greeting)
		}
		return m
	}
	repo := newGitRepo(t)
	repo.commit("v1", files("v1"))
	rnd := &panickyRenderer{app: renderApp}
	var tgt *panickyTarget
	r, logs := startAgentWith(t, agentConfig(t, repo.url(), "", ""), func(o *Options) {
		o.Renderer = rnd
		tgt = &panickyTarget{Manager: o.Targets["local"].(*apply.Manager), app: applyApp}
		o.Targets = map[string]Target{"local": tgt}
	})
	for _, a := range apps {
		eventually(t, 60*time.Second, a+" applied at v1", func() (bool, string) {
			got := configMapData(t, cs, ns, a)
			return got == "v1", got
		})
	}

	// Readiness waits for a probe of the clusters that may lag behind the
	// first applies on a loaded machine; it must hold from here on.
	eventually(t, 30*time.Second, "the agent ready", func() (bool, string) {
		code := probe(r.addr, "/readyz")
		return code == http.StatusOK, fmt.Sprint(code)
	})
	rnd.armed.Store(true)
	tgt.armed.Store(true)
	probes := startProber(r.addr, 20*time.Millisecond, "/healthz", "/readyz")
	sha := repo.commit("v2", files("v2"))
	start := time.Now()
	r.hook(t)
	for _, a := range apps {
		eventually(t, 30*time.Second, a+" applied at v2", func() (bool, string) {
			got := configMapData(t, cs, ns, a)
			return got == "v2", got
		})
		t.Logf("%s applied at v2 %s after the commit", a, time.Since(start).Round(time.Millisecond))
	}
	for _, a := range apps {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		_, err := r.client.App(ctx, a)
		cancel()
		if err != nil {
			t.Errorf("the status API after the panics: %v", err)
		}
	}
	bad, count := probes.finish()
	if len(bad) > 0 {
		t.Errorf("probes that were not 200 during the panics (%s): %v", count, bad)
	} else {
		t.Logf("health and readiness probes during the panics: %s, all 200", count)
	}
	if rnd.fired.Load() != 1 || tgt.fired.Load() != 1 {
		t.Fatalf("panics injected: render %d, apply %d; want 1 each (the test proves nothing otherwise)", rnd.fired.Load(), tgt.fired.Load())
	}

	for _, c := range []string{"render", "apply"} {
		if got := metricValue(t, r, "carina_panics_total", `component="`+c+`"`); got != 1 {
			t.Errorf(`carina_panics_total{component=%q} = %v, want 1`, c, got)
		}
	}
	if got := metricValue(t, r, "carina_panics_total", `component="work"`); got != 0 {
		t.Errorf(`carina_panics_total{component="work"} = %v, want 0 (the panics belong to render and apply)`, got)
	}
	for app, c := range map[string]string{renderApp: "render", applyApp: "apply"} {
		line := panicLine(logs.String(), app)
		switch {
		case line == "":
			t.Errorf("no log line of the %s panic of %s:\n%s", c, app, grep(logs.String(), "panic"))
		case !strings.Contains(line, "component="+c) || !strings.Contains(line, "stack=") || !strings.Contains(line, "e2e_safety_panic_test.go"):
			t.Errorf("the %s panic's log line lacks its component or the stack of the panicking code: %s", c, line)
		}
		e := mustEnv(t, r, app, "default")
		if !failedWith(e.History, sha, "panicked") {
			t.Errorf("the history of %s does not show the reconcile that panicked at %s: %+v", app, sha, e.History)
		}
		if e.Sync != api.SyncSynced || e.LastError != nil || !strings.Contains(e.Revision, sha) {
			t.Errorf("%s after the next reconcile: %s at %s, error %+v; want Synced at %s", app, e.Sync, e.Revision, e.LastError, sha)
		}
	}
	if code := probe(r.addr, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz at the end = %d", code)
	}
}

// panicLine is the log line of a contained panic of app, "" if none.
func panicLine(logs, app string) string {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "panic contained") && strings.Contains(l, "app="+app+" ") {
			return l
		}
	}
	return ""
}

// failedWith reports whether the history holds a failed reconcile at
// revision sha whose error contains sub.
func failedWith(h []api.Reconcile, sha, sub string) bool {
	for _, rc := range h {
		if rc.Result == "error" && strings.Contains(rc.Revision, sha) && strings.Contains(rc.Error, sub) {
			return true
		}
	}
	return false
}
