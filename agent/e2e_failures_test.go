package agent

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carina-gitops/carina/agent/api"
)

// simpleAppfile is one ConfigMap in ns, without environments.
func simpleAppfile(name, ns, greeting string) string {
	return fmt.Sprintf(`name: %[1]s
namespace: %[2]s
services:
  cfg:
    type: k8s-objects
    objects:
      - apiVersion: v1
        kind: ConfigMap
        metadata: {name: %[1]s}
        data: {greeting: %[3]s}
`, name, ns, greeting)
}

func healthyEnv(r *running, app, env string) func() (bool, string) {
	return func() (bool, string) {
		e, err := r.env(app, env)
		if err != nil {
			return false, err.Error()
		}
		return e.Health == api.HealthHealthy && e.Sync == api.SyncSynced, fmt.Sprintf("%s %s %+v", e.Sync, e.Health, e.LastError)
	}
}

// TestBrokenAppfileKeepsLastGoodState: a commit breaks one app's
// Appfile and changes the other app; the broken app keeps what is
// applied and shows the error with file:line, the other app's change is
// applied and it keeps reconciling, and a fix recovers.
func TestBrokenAppfileKeepsLastGoodState(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("broken")
	app := ns + "-shop"
	blog := ns + "-blog"
	createNamespaces(t, cs, ns)
	repo := newGitRepo(t)
	repo.commit("two apps", map[string]string{
		app + "/Appfile":  simpleAppfile(app, ns, "v1"),
		blog + "/Appfile": simpleAppfile(blog, ns, "v1"),
	})
	r := startAgent(t, agentConfig(t, repo.url(), "", ""))
	eventually(t, 30*time.Second, "shop healthy", healthyEnv(r, app, "default"))
	eventually(t, 30*time.Second, "blog healthy", healthyEnv(r, blog, "default"))

	repo.commit("break shop, change blog", map[string]string{
		app + "/Appfile":  "name: shop\nservices:\n  cfg: [not, a, mapping]\n",
		blog + "/Appfile": simpleAppfile(blog, ns, "v2"),
	})
	r.hook(t)
	eventually(t, 20*time.Second, "shop shows the error", func() (bool, string) {
		st, err := r.client.App(t.Context(), app)
		if err != nil || st.Error == nil {
			return false, fmt.Sprintf("%v %+v", err, st.Error)
		}
		return strings.HasPrefix(st.Error.Position, app+"/Appfile:3") && st.Envs[0].Sync == api.SyncStalled,
			fmt.Sprintf("%+v %s", st.Error, st.Envs[0].Sync)
	})
	if got := configMapData(t, cs, ns, app); got != "v1" {
		t.Errorf("shop's ConfigMap = %q, want the last good v1", got)
	}
	// The broken file costs only its own app: blog's change is applied.
	eventually(t, 20*time.Second, "blog's change applied", func() (bool, string) {
		got := configMapData(t, cs, ns, blog)
		return got == "v2", got
	})
	eventually(t, 10*time.Second, "blog synced at v2", healthyEnv(r, blog, "default"))
	if got := configMapData(t, cs, ns, app); got != "v1" {
		t.Errorf("shop's ConfigMap = %q after blog's apply, want the last good v1", got)
	}
	bst, err := r.client.App(t.Context(), blog)
	if err != nil || bst.Error != nil || bst.Envs[0].Sync != api.SyncSynced {
		t.Errorf("blog = %v, %+v", err, bst)
	}
	// The other app keeps reconciling: a forced reconcile of blog runs.
	before := len(mustEnv(t, r, blog, "default").History)
	if _, err := r.client.Reconcile(t.Context(), blog); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "blog reconciled while shop is broken", func() (bool, string) {
		n := len(mustEnv(t, r, blog, "default").History)
		return n > before, strconv.Itoa(n)
	})

	repo.commit("fix shop", map[string]string{app + "/Appfile": simpleAppfile(app, ns, "v2")})
	r.hook(t)
	eventually(t, 20*time.Second, "shop recovered at v2", func() (bool, string) {
		got := configMapData(t, cs, ns, app)
		return got == "v2", got
	})
	eventually(t, 10*time.Second, "shop's error cleared", healthyEnv(r, app, "default"))
	if app, _ := r.client.App(t.Context(), app); app.Error != nil {
		t.Errorf("shop error after the fix: %+v", app.Error)
	}
}

// TestUnreachableRepoKeepsStateAndRecovers: the repository disappears;
// the applied state stays, status says Stalled with a reason free of
// secrets, polls back off, and the agent recovers when it is back.
func TestUnreachableRepoKeepsStateAndRecovers(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("unreach")
	app := ns + "-shop"
	createNamespaces(t, cs, ns)
	repo := newGitRepo(t)
	repo.commit("one app", map[string]string{app + "/Appfile": simpleAppfile(app, ns, "v1")})
	r := startAgent(t, agentConfig(t, repo.url(), "", ""))
	eventually(t, 30*time.Second, "shop healthy", healthyEnv(r, app, "default"))

	moved := repo.dir + ".away"
	if err := os.Rename(repo.dir, moved); err != nil {
		t.Fatal(err)
	}
	r.hook(t)
	eventually(t, 20*time.Second, "shop stalled", func() (bool, string) {
		app, err := r.client.App(t.Context(), app)
		if err != nil || app.Error == nil {
			return false, fmt.Sprintf("%v", err)
		}
		return app.Envs[0].Sync == api.SyncStalled, app.Error.Message
	})
	st, _ := r.client.App(t.Context(), app)
	if strings.Contains(st.Error.Message, "?") || st.Error.Message == "" {
		t.Errorf("reason = %q", st.Error.Message)
	}
	if got := configMapData(t, cs, ns, app); got != "v1" {
		t.Errorf("ConfigMap = %q while the repo is away, want v1", got)
	}
	m := r.metrics(t)
	if !regexp.MustCompile(`carina_source_fetch_total\{result="error",source="apps"\} [1-9]`).MatchString(m) {
		t.Errorf("fetch errors not counted:\n%s", grep(m, "carina_source_fetch_total"))
	}
	assertBackoff(t, r)

	if err := os.Rename(moved, repo.dir); err != nil {
		t.Fatal(err)
	}
	repo.commit("v2", map[string]string{app + "/Appfile": simpleAppfile(app, ns, "v2")})
	// The poller is in backoff; a webhook wakes it at once.
	r.hook(t)
	eventually(t, 30*time.Second, "recovered at v2", func() (bool, string) {
		got := configMapData(t, cs, ns, app)
		return got == "v2", got
	})
	eventually(t, 10*time.Second, "shop synced again", healthyEnv(r, app, "default"))
}

// TestMonorepoRendersOnlyTheChangedApp: 50 apps in one repo; a commit
// that touches one renders and applies only that one, as the render
// histogram's counts show.
func TestMonorepoRendersOnlyTheChangedApp(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("mono")
	createNamespaces(t, cs, ns)
	repo := newGitRepo(t)
	files := map[string]string{}
	for i := range 50 {
		name := fmt.Sprintf("app-%02d", i)
		files[name+"/Appfile"] = simpleAppfile(name, ns, "v1")
	}
	repo.commit("fifty apps", files)
	r := startAgent(t, agentConfig(t, repo.url(), "", ""))
	for i := range 50 {
		eventually(t, 60*time.Second, "all apps healthy", healthyEnv(r, fmt.Sprintf("app-%02d", i), "default"))
	}
	before := renderCounts(r.metrics(t))
	if len(before) != 50 {
		t.Fatalf("render counts for %d apps, want 50", len(before))
	}
	repo.commit("touch app-07", map[string]string{"app-07/Appfile": simpleAppfile("app-07", ns, "v2")})
	r.hook(t)
	eventually(t, 20*time.Second, "app-07 applied", func() (bool, string) {
		got := configMapData(t, cs, ns, "app-07")
		return got == "v2", got
	})
	eventually(t, 10*time.Second, "app-07 healthy", healthyEnv(r, "app-07", "default"))
	after := renderCounts(r.metrics(t))
	for app, n := range after {
		d := n - before[app]
		switch {
		case app == "app-07" && d < 1:
			t.Errorf("app-07 rendered %d times after its commit, want at least 1", d)
		case app != "app-07" && d != 0:
			t.Errorf("%s rendered %d times after a commit that did not touch it", app, d)
		}
	}
}

var renderCount = regexp.MustCompile(`carina_reconcile_duration_seconds_count\{app="([^"]+)",env="[^"]+",phase="render"\} (\d+)`)

// renderCounts reads the render histogram's count per app.
func renderCounts(metrics string) map[string]int {
	out := map[string]int{}
	for _, m := range renderCount.FindAllStringSubmatch(metrics, -1) {
		n, _ := strconv.Atoi(m[2])
		out[m[1]] += n
	}
	return out
}

func mustEnv(t *testing.T, r *running, app, env string) api.EnvStatus {
	t.Helper()
	e, err := r.env(app, env)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// assertBackoff watches the failed-fetch counter for 15 s: retries must
// come (the source is not left until its 1 h interval) and their spacing
// must grow (about +2 s, +6 s, +14 s after the first failure: exponential
// backoff from 2 s with 10 % jitter), never hammering the forge.
func assertBackoff(t *testing.T, r *running) {
	t.Helper()
	re := regexp.MustCompile(`carina_source_fetch_total\{result="error",source="apps"\} (\d+)`)
	count := func() int {
		m := re.FindStringSubmatch(r.metrics(t))
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	last := count()
	var at []time.Time
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if n := count(); n != last {
			at = append(at, time.Now())
			last = n
		}
	}
	if len(at) < 2 || len(at) > 3 {
		t.Fatalf("%d failed fetches in 15 s, want 2 or 3 (retries with a growing backoff)", len(at))
	}
	var gaps []time.Duration
	for i := 1; i < len(at); i++ {
		gaps = append(gaps, at[i].Sub(at[i-1]).Round(time.Millisecond))
	}
	if last := gaps[len(gaps)-1]; last < 3*time.Second {
		t.Errorf("retries %v apart, want the backoff to have grown past 3 s", gaps)
	}
	if len(gaps) == 2 && gaps[1] <= gaps[0] {
		t.Errorf("retry gaps %v do not grow", gaps)
	}
	t.Logf("gaps between failed fetches: %v", gaps)
}
