package agent

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/carina-gitops/carina/agent/api"
)

// TestRenderErrorIsTerminal: inputs that can never render (a type error
// in an Appfile) are rendered once, reported once with their position,
// and not retried with backoff; an explicit reconcile tries them again,
// and a new commit that fixes them is applied.
func TestRenderErrorIsTerminal(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("term")
	createNamespaces(t, cs, ns)
	repo := newGitRepo(t)
	bad := strings.Replace(greeterApp("typo", ns, "greeter"), "greeting: hello", "greeting: 42", 1)
	repo.commit("a type error", map[string]string{"defs/greeter.cue": greeterDef("greeter", "plain"), "typo/Appfile": bad})
	sources := fmt.Sprintf("apps: [{name: apps, url: %q, interval: 1h, definitions: defs}]", repo.url())
	_, cfg := agentConfigSources(t, sources, "", testCluster.Kubeconfig(), "127.0.0.1:0", "")
	r := startAgent(t, cfg)

	eventually(t, 30*time.Second, "typo stalled with the render error", func() (bool, string) {
		e, err := r.env("typo", "default")
		if err != nil {
			return false, err.Error()
		}
		return e.Sync == api.SyncStalled && e.LastError != nil, fmt.Sprintf("%s %+v", e.Sync, e.LastError)
	})
	// The queue backs off from 200 ms to 5 s: a transient error would be
	// retried about six times in the next ten seconds.
	time.Sleep(10 * time.Second)
	if n := renderCounts(r.metrics(t))["typo"]; n != 1 {
		t.Errorf("the broken inputs were rendered %d times, want 1", n)
	}
	e := mustEnv(t, r, "typo", "default")
	if f := failures(e.History); len(f) != 1 || f[0].Count > 1 {
		t.Fatalf("history has %d failures, want exactly one: %+v", len(f), e.History)
	}
	if !strings.Contains(e.LastError.Message, "42") || e.LastError.Position == "" {
		t.Errorf("the error does not say what and where: %+v", e.LastError)
	}

	// An explicit reconcile tries the same inputs again, once; the
	// history counts the repeat instead of adding a copy.
	if _, err := r.client.Reconcile(t.Context(), "typo"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a second render after the reconcile", func() (bool, string) {
		n := renderCounts(r.metrics(t))["typo"]
		return n == 2, fmt.Sprint(n)
	})
	time.Sleep(2 * time.Second)
	if n := renderCounts(r.metrics(t))["typo"]; n != 2 {
		t.Errorf("rendered %d times after one reconcile, want 2", n)
	}
	e = mustEnv(t, r, "typo", "default")
	if f := failures(e.History); len(f) != 1 || f[0].Count != 2 {
		t.Errorf("history after the repeat: %+v, want one failure with count 2", e.History)
	}

	// One RenderFailed Event says what and where; the repeat of the same
	// error posts none.
	eventually(t, 10*time.Second, "a RenderFailed Event", func() (bool, string) {
		evs := appEvents(t, cs, ns, "typo", "RenderFailed")
		return len(evs) == 1 && strings.Contains(evs[0], "42") && strings.Contains(evs[0], "Appfile"), fmt.Sprint(evs)
	})

	// A commit that fixes the Appfile changes the inputs: applied.
	repo.commit("fix", map[string]string{"typo/Appfile": greeterApp("typo", ns, "greeter")})
	r.hook(t)
	eventually(t, 30*time.Second, "typo healthy after the fix", healthyEnv(r, "typo", "default"))
}

// failures are the failed reconciles of a history.
func failures(h []api.Reconcile) []api.Reconcile {
	var out []api.Reconcile
	for _, r := range h {
		if r.Result == "error" {
			out = append(out, r)
		}
	}
	return out
}
