package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/e2e/cluster"
)

// The mass-deletion guard's tests (issue 11): a commit that deletes
// every Appfile of a source, or more than maxPruneFraction of its
// deployments, prunes nothing until a person confirms; the audit log is
// the witness that nothing was deleted meanwhile.

// heldAt waits until source src has loaded revision sha and returns its
// status.
func heldAt(t *testing.T, r *running, src, sha string) api.SourceStatus {
	t.Helper()
	var got api.SourceStatus
	eventually(t, 30*time.Second, "source "+src+" loaded at "+sha, func() (bool, string) {
		srcs, err := r.client.Sources(t.Context())
		if err != nil {
			return false, err.Error()
		}
		for _, s := range srcs {
			if s.Name == src {
				got = s
				return strings.HasSuffix(s.Revision, sha), s.Revision
			}
		}
		return false, fmt.Sprintf("no source %s in %v", src, srcs)
	})
	return got
}

// configMapDeletes counts the deletes of ConfigMaps in ns in the audit
// log, dry runs apart.
func configMapDeletes(t *testing.T, c *cluster.Cluster, ns string) []string {
	t.Helper()
	events, err := c.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range cluster.Select(events, cluster.Filter{Verb: "delete", Namespace: ns, Resource: "configmaps"}) {
		if !isDryRun(ev.RequestURI) {
			out = append(out, ev.ObjectRef.Name)
		}
	}
	slices.Sort(out)
	return out
}

// pruneHeldEvents lists the messages of the PruneHeld Events of app.
func pruneHeldEvents(t *testing.T, cs kubernetes.Interface, ns, app string) []string {
	t.Helper()
	return appEvents(t, cs, ns, app, "PruneHeld")
}

// appEvents lists the messages of app's Events of reason in ns.
func appEvents(t *testing.T, cs kubernetes.Interface, ns, app, reason string) []string {
	t.Helper()
	evs, err := cs.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs.Items {
		if ev.Reason == reason && ev.InvolvedObject.Name == app {
			out = append(out, ev.Message)
		}
	}
	return out
}

// TestMassDeletionGuard: of five apps, deleting one is pruned (1 of 5);
// deleting three of the four left is held, with the list in the API,
// the apps' errors, the metric and an Event, and nothing deleted (audit
// log); a confirmation naming another revision is refused, the right one
// prunes them; deleting the last app (all of the source) is held again
// until confirmed.
func TestMassDeletionGuard(t *testing.T) {
	c, cs := needCluster(t)
	ns := testNS("guard")
	createNamespaces(t, cs, ns)
	names := []string{ns + "-a", ns + "-b", ns + "-c", ns + "-d", ns + "-e"}
	files := map[string]string{}
	for _, n := range names {
		files[n+"/Appfile"] = simpleAppfile(n, ns, "v1")
	}
	repo := newGitRepo(t)
	repo.commit("five apps", files)
	r := startAgent(t, agentConfig(t, repo.url(), "", ""))
	for _, n := range names {
		eventually(t, 30*time.Second, n+" healthy", healthyEnv(r, n, "default"))
	}

	repo.remove("remove a", names[0])
	r.hook(t)
	eventually(t, 20*time.Second, "a pruned (1 of 5)", prunedFully(t, r, cs, names[0], ns, "default"))

	sha := repo.remove("remove b, c and d", names[1], names[2], names[3])
	r.hook(t)
	s := heldAt(t, r, "apps", sha)
	h := s.PruneHeld
	if h == nil {
		t.Fatalf("3 of 4 apps removed: no prune held: %+v", s)
	}
	if want := names[1:4]; !slices.Equal(h.Apps, want) || !slices.Equal(h.Items, want) || h.Deployments != 3 || h.Total != 4 {
		t.Errorf("hold = %+v, want apps %v, 3 of 4 deployments", h, want)
	}
	if !strings.Contains(h.Message, "carina prune confirm apps --revision "+sha) {
		t.Errorf("hold message %q does not say how to confirm", h.Message)
	}
	for _, n := range names[1:4] {
		a, err := r.client.App(t.Context(), n)
		if err != nil {
			t.Fatalf("held app %s is not listed: %v", n, err)
		}
		if a.Error == nil || !strings.Contains(a.Error.Message, "prune held by the mass-deletion guard") {
			t.Errorf("held app %s error = %+v", n, a.Error)
		}
		if objectGone(t, cs, ns, n) {
			t.Errorf("held app %s's ConfigMap is gone", n)
		}
		eventually(t, 10*time.Second, n+"'s PruneHeld Event", func() (bool, string) {
			evs := pruneHeldEvents(t, cs, ns, n)
			return len(evs) > 0 && strings.Contains(evs[0], sha), fmt.Sprint(evs)
		})
	}
	if m := r.metrics(t); !strings.Contains(m, `carina_prune_held{source="apps"} 3`) {
		t.Errorf("metric carina_prune_held is not 3:\n%s", grep(m, "carina_prune_held"))
	}
	if got := configMapDeletes(t, c, ns); !slices.Equal(got, names[:1]) {
		t.Errorf("ConfigMaps deleted (audit log) = %v, want only %s", got, names[0])
	}

	_, err := r.client.ConfirmPrune(t.Context(), "apps", "0000000")
	var se *api.StatusError
	if !errors.As(err, &se) || se.Code != 409 || !strings.Contains(se.Msg, sha) {
		t.Errorf("confirm of another revision: err = %v, want a 409 naming %s", err, sha)
	}
	if _, err := r.client.ConfirmPrune(t.Context(), "apps", sha[:8]); err != nil {
		t.Fatal(err)
	}
	for _, n := range names[1:4] {
		eventually(t, 20*time.Second, n+" pruned once confirmed", prunedFully(t, r, cs, n, ns, "default"))
	}
	eventually(t, 10*time.Second, "hold lifted", func() (bool, string) {
		s := heldAt(t, r, "apps", sha)
		m := r.metrics(t)
		return s.PruneHeld == nil && strings.Contains(m, `carina_prune_held{source="apps"} 0`), grep(m, "carina_prune_held")
	})

	last := repo.remove("remove e, the last app", names[4])
	r.hook(t)
	if s := heldAt(t, r, "apps", last); s.PruneHeld == nil || !slices.Equal(s.PruneHeld.Apps, names[4:]) {
		t.Fatalf("the last app removed: hold = %+v, want %s held", s.PruneHeld, names[4])
	}
	if objectGone(t, cs, ns, names[4]) {
		t.Errorf("the last app's ConfigMap is gone before a confirmation")
	}
	if _, err := r.client.ConfirmPrune(t.Context(), "apps", last); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the last app pruned once confirmed", prunedFully(t, r, cs, names[4], ns, "default"))
}

// TestMassDeletionGuardAllowEmpty: a source with allowEmpty prunes its
// only app when its Appfile goes, at once.
func TestMassDeletionGuardAllowEmpty(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("allowempty")
	createNamespaces(t, cs, ns)
	app := ns + "-only"
	repo := newGitRepo(t)
	repo.commit("one app", map[string]string{app + "/Appfile": simpleAppfile(app, ns, "v1")})
	_, cfg := agentConfigSources(t, allowEmptySource(repo.url()), "", testCluster.Kubeconfig(), "127.0.0.1:0", "")
	r := startAgent(t, cfg)
	eventually(t, 30*time.Second, "healthy", healthyEnv(r, app, "default"))
	repo.remove("remove the only app", app)
	r.hook(t)
	eventually(t, 20*time.Second, "pruned without a confirmation", prunedFully(t, r, cs, app, ns, "default"))
}

// TestFolderRenameMovesApps: a commit that renames the folder of every
// app deletes nothing: the apps keep their names, so they move and keep
// their objects (same UID, no delete in the audit log).
func TestFolderRenameMovesApps(t *testing.T) {
	c, cs := needCluster(t)
	ns := testNS("rename")
	createNamespaces(t, cs, ns)
	shop, blog := ns+"-shop", ns+"-blog"
	repo := newGitRepo(t)
	repo.commit("two apps", map[string]string{
		"apps/" + shop + "/Appfile": simpleAppfile(shop, ns, "v1"),
		"apps/" + blog + "/Appfile": simpleAppfile(blog, ns, "v1"),
	})
	r := startAgent(t, agentConfig(t, repo.url(), "", ""))
	uids := map[string]string{}
	for _, n := range []string{shop, blog} {
		eventually(t, 30*time.Second, n+" healthy", healthyEnv(r, n, "default"))
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		uids[n] = string(cm.UID)
	}
	repo.git("mv", "apps", "services")
	repo.git("commit", "-q", "-m", "rename apps/ to services/")
	sha := repo.git("rev-parse", "HEAD")
	r.hook(t)
	if s := heldAt(t, r, "apps", sha); s.PruneHeld != nil {
		t.Errorf("a rename held a prune: %+v", s.PruneHeld)
	}
	for _, n := range []string{shop, blog} {
		eventually(t, 20*time.Second, n+" read from its new folder", func() (bool, string) {
			a, err := r.client.App(t.Context(), n)
			if err != nil {
				return false, err.Error()
			}
			return strings.HasPrefix(a.File, "services/") && strings.HasSuffix(a.Revision, sha), a.File + " " + a.Revision
		})
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if string(cm.UID) != uids[n] {
			t.Errorf("%s's ConfigMap was recreated: UID %s, was %s", n, cm.UID, uids[n])
		}
	}
	if got := configMapDeletes(t, c, ns); len(got) > 0 {
		t.Errorf("a rename deleted ConfigMaps (audit log): %v", got)
	}
}

// TestOrphanGuardAfterRestart: every app is removed while no agent
// runs; the next agent finds their inventories, holds the prune
// (orphans) instead of deleting every app, and prunes once confirmed.
func TestOrphanGuardAfterRestart(t *testing.T) {
	c, cs := needCluster(t)
	ns := testNS("orphanguard")
	createNamespaces(t, cs, ns)
	shop, blog := ns+"-shop", ns+"-blog"
	repo := newGitRepo(t)
	repo.commit("two apps", map[string]string{
		shop + "/Appfile": simpleAppfile(shop, ns, "v1"),
		blog + "/Appfile": simpleAppfile(blog, ns, "v1"),
		"README.md":       "apps\n",
	})
	first := startAgent(t, agentConfig(t, repo.url(), "", ""))
	eventually(t, 30*time.Second, "shop healthy", healthyEnv(first, shop, "default"))
	eventually(t, 30*time.Second, "blog healthy", healthyEnv(first, blog, "default"))
	first.stop(t)

	sha := repo.remove("remove every app", shop, blog)
	second := startAgent(t, agentConfig(t, repo.url(), "", ""))
	var h *api.PruneHold
	eventually(t, 30*time.Second, "orphans held", func() (bool, string) {
		s := heldAt(t, second, "apps", sha)
		h = s.PruneHeld
		return h != nil, fmt.Sprintf("%+v", s)
	})
	if !h.Orphans || !slices.Equal(h.Apps, []string{blog, shop}) || h.Deployments != 2 || h.Total != 2 {
		t.Errorf("hold = %+v, want the orphans %s and %s, 2 of 2", h, blog, shop)
	}
	if got := configMapDeletes(t, c, ns); len(got) > 0 {
		t.Errorf("ConfigMaps deleted before a confirmation (audit log): %v", got)
	}
	if _, err := second.client.ConfirmPrune(t.Context(), "apps", sha); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{shop, blog} {
		eventually(t, 30*time.Second, n+" pruned once confirmed", func() (bool, string) {
			gone, inv := objectGone(t, cs, ns, n), inventoryOf(t, cs, n, "default") == nil
			return gone && inv, fmt.Sprintf("object gone %v, inventory gone %v", gone, inv)
		})
	}
	eventually(t, 10*time.Second, "hold lifted", func() (bool, string) {
		s := heldAt(t, second, "apps", sha)
		return s.PruneHeld == nil, fmt.Sprintf("%+v", s.PruneHeld)
	})
}

// TestSourcePathGoneIsHeld: a commit that removes the source's path
// (its folder) holds the prune of every app, and says why.
func TestSourcePathGoneIsHeld(t *testing.T) {
	c, cs := needCluster(t)
	ns := testNS("pathgone")
	createNamespaces(t, cs, ns)
	shop, blog := ns+"-shop", ns+"-blog"
	repo := newGitRepo(t)
	repo.commit("two apps under deploy/", map[string]string{
		"deploy/" + shop + "/Appfile": simpleAppfile(shop, ns, "v1"),
		"deploy/" + blog + "/Appfile": simpleAppfile(blog, ns, "v1"),
		"README.md":                   "apps\n",
	})
	_, cfg := agentConfigSources(t, fmt.Sprintf("apps: [{name: apps, url: %q, path: deploy, interval: 1h}]", repo.url()), "", testCluster.Kubeconfig(), "127.0.0.1:0", "")
	r := startAgent(t, cfg)
	eventually(t, 30*time.Second, "shop healthy", healthyEnv(r, shop, "default"))
	eventually(t, 30*time.Second, "blog healthy", healthyEnv(r, blog, "default"))
	sha := repo.remove("remove deploy/", "deploy")
	r.hook(t)
	s := heldAt(t, r, "apps", sha)
	if s.PruneHeld == nil || !slices.Equal(s.PruneHeld.Apps, []string{blog, shop}) || !strings.Contains(s.PruneHeld.Message, "without the source's path deploy") {
		t.Fatalf("path gone: hold = %+v", s.PruneHeld)
	}
	for _, n := range []string{shop, blog} {
		if objectGone(t, cs, ns, n) {
			t.Errorf("%s's ConfigMap is gone", n)
		}
	}
	if got := configMapDeletes(t, c, ns); len(got) > 0 {
		t.Errorf("ConfigMaps deleted (audit log): %v", got)
	}
}

// TestLostOrCorruptInventoryStallsEnv: an env whose inventory was
// deleted while its objects stay, or whose inventory no longer decodes,
// is Stalled with the way out (carina apply --rebuild-inventory) and
// nothing is written or deleted; once rebuilt, the next reconcile
// applies.
func TestLostOrCorruptInventoryStallsEnv(t *testing.T) {
	c, cs := needCluster(t)
	ns := testNS("lostinv")
	createNamespaces(t, cs, ns)
	shop := ns + "-shop"
	repo := newGitRepo(t)
	repo.commit("shop v1", map[string]string{shop + "/Appfile": simpleAppfile(shop, ns, "v1")})
	r := startAgent(t, agentConfig(t, repo.url(), "", ""))
	eventually(t, 30*time.Second, "shop healthy", healthyEnv(r, shop, "default"))
	m, err := apply.New(testCluster.RESTConfig(), apply.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	invNS, invName := apply.DefaultOptions().InventoryNamespace, inventory.Name(shop, "default")
	// The corrupt inventory is left for no other test of this cluster.
	t.Cleanup(func() {
		_ = cs.CoreV1().ConfigMaps(invNS).Delete(context.Background(), invName, metav1.DeleteOptions{})
	})
	stalledWith := func(what string) func() (bool, string) {
		return func() (bool, string) {
			e, err := r.env(shop, "default")
			if err != nil {
				return false, err.Error()
			}
			msg := ""
			if e.LastError != nil {
				msg = e.LastError.Message
			}
			return e.Sync == api.SyncStalled && strings.Contains(msg, what) && strings.Contains(msg, "carina apply --rebuild-inventory"), string(e.Sync) + " " + msg
		}
	}
	rv := resourceVersion(t, cs, ns, shop)

	if err := cs.CoreV1().ConfigMaps(invNS).Delete(t.Context(), invName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	repo.commit("shop v2", map[string]string{shop + "/Appfile": simpleAppfile(shop, ns, "v2")})
	r.hook(t)
	eventually(t, 20*time.Second, "Stalled on the lost inventory", stalledWith("inventory missing, but 1 objects in the cluster carry the app's labels"))
	if got := resourceVersion(t, cs, ns, shop); got != rv {
		t.Errorf("the ConfigMap was written over a lost inventory: resourceVersion %s, was %s", got, rv)
	}
	if _, err := m.RebuildInventory(t.Context(), shop, "default"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.Reconcile(t.Context(), shop); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "v2 applied after the rebuild", func() (bool, string) {
		got := configMapData(t, cs, ns, shop)
		return got == "v2", got
	})

	// The agent's bookkeeping of v2 (health, the workflow state in the
	// inventory) settles before the inventory is corrupted; a write of
	// the agent that lands afterwards is undone until it holds.
	eventually(t, 20*time.Second, "v2 healthy and its workflow done", func() (bool, string) {
		a, err := r.client.App(t.Context(), shop)
		if err != nil || len(a.Workflow) == 0 || len(a.Envs) == 0 {
			return false, fmt.Sprint(err)
		}
		w, e := a.Workflow[len(a.Workflow)-1], a.Envs[0]
		return w.Phase == api.StepSucceeded && e.Health == api.HealthHealthy && e.Sync == api.SyncSynced, fmt.Sprintf("%s %s %s", w.Phase, e.Sync, e.Health)
	})
	eventually(t, 10*time.Second, "the inventory stays corrupt", func() (bool, string) {
		inv, err := cs.CoreV1().ConfigMaps(invNS).Get(t.Context(), invName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if inv.Data[inventory.KeyObjects] != "not an inventory line\n" {
			inv.Data[inventory.KeyObjects] = "not an inventory line\n"
			if _, err := cs.CoreV1().ConfigMaps(invNS).Update(t.Context(), inv, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
				t.Fatal(err)
			}
			return false, "corrupted now"
		}
		time.Sleep(500 * time.Millisecond)
		again, err := cs.CoreV1().ConfigMaps(invNS).Get(t.Context(), invName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return again.ResourceVersion == inv.ResourceVersion, "written again by the agent"
	})
	rv = resourceVersion(t, cs, ns, shop)
	repo.commit("shop v3", map[string]string{shop + "/Appfile": simpleAppfile(shop, ns, "v3")})
	r.hook(t)
	eventually(t, 20*time.Second, "Stalled on the corrupt inventory", stalledWith("inventory corrupt"))
	if got := resourceVersion(t, cs, ns, shop); got != rv {
		t.Errorf("the ConfigMap was written over a corrupt inventory: resourceVersion %s, was %s", got, rv)
	}
	if got := configMapDeletes(t, c, ns); len(got) > 0 {
		t.Errorf("ConfigMaps deleted (audit log): %v", got)
	}
}
