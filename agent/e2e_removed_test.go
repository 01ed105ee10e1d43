package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/e2e/cluster"
)

// allowEmptySource is the sources section of one app source that
// turns the mass-deletion guard off, for tests of what a prune does once
// it runs.
func allowEmptySource(url string) string {
	return fmt.Sprintf("apps: [{name: apps, url: %q, interval: 1h, allowEmpty: true}]", url)
}

// remove deletes paths from the repository in a commit.
func (r *gitRepo) remove(msg string, paths ...string) string {
	r.t.Helper()
	for _, p := range paths {
		if err := os.RemoveAll(filepath.Join(r.dir, p)); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git("add", "-A")
	r.git("commit", "-q", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// twoEnvAppfile is one ConfigMap per environment, in <ns>-<env>, for
// each env named (deployed in order, without a workflow).
func twoEnvAppfile(app, ns, greeting string, envs ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `name: %s
services:
  cfg:
    type: k8s-objects
    objects:
      - apiVersion: v1
        kind: ConfigMap
        metadata: {name: %s}
        data: {greeting: %s}
environments:
`, app, app, greeting)
	for _, e := range envs {
		fmt.Fprintf(&b, "  %s:\n    clusters: [local]\n    namespace: %s-%s\n", e, ns, e)
	}
	return b.String()
}

// inventoryOf reads the inventory ConfigMap of (app, env), nil when
// there is none.
func inventoryOf(t *testing.T, cs kubernetes.Interface, app, env string) *corev1.ConfigMap {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps(apply.DefaultOptions().InventoryNamespace).Get(t.Context(), inventory.Name(app, env), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

// objectGone reports whether a ConfigMap is absent or being deleted.
func objectGone(t *testing.T, cs kubernetes.Interface, ns, name string) bool {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	return cm.DeletionTimestamp != nil
}

func resourceVersion(t *testing.T, cs kubernetes.Interface, ns, name string) string {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm.ResourceVersion
}

// listed reports whether the API's app list holds app.
func listed(t *testing.T, r *running, app string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	apps, err := r.client.Apps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(apps, func(a api.AppSummary) bool { return a.Name == app })
}

// prunedFully is the condition "app's object and inventory in env are
// gone, and the API no longer lists the app".
func prunedFully(t *testing.T, r *running, cs kubernetes.Interface, app, ns, env string) func() (bool, string) {
	return func() (bool, string) {
		gone, inv, l := objectGone(t, cs, ns, app), inventoryOf(t, cs, app, env) == nil, listed(t, r, app)
		return gone && inv && !l, fmt.Sprintf("object gone %v, inventory gone %v, listed %v", gone, inv, l)
	}
}

// TestRemovedAppIsPruned: an app whose Appfile a commit deletes loses its
// objects, its inventory, its status and its metric series; the other
// app of the repository is not touched.
func TestRemovedAppIsPruned(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("removed")
	shop, blog := ns+"-shop", ns+"-blog"
	createNamespaces(t, cs, ns)
	repo := newGitRepo(t)
	repo.commit("two apps", map[string]string{
		shop + "/Appfile": simpleAppfile(shop, ns, "v1"),
		blog + "/Appfile": simpleAppfile(blog, ns, "v1"),
	})
	r := startAgent(t, agentConfig(t, repo.url(), "", ""))
	eventually(t, 30*time.Second, "shop healthy", healthyEnv(r, shop, "default"))
	eventually(t, 30*time.Second, "blog healthy", healthyEnv(r, blog, "default"))
	inv := inventoryOf(t, cs, shop, "default")
	if inv == nil || inv.Data["x."+extraSource] != "apps" || !strings.HasPrefix(inv.Data["x."+extraRepo], "file/") {
		t.Fatalf("shop's inventory does not name its source: %v", inv)
	}
	blogRV := resourceVersion(t, cs, ns, blog)
	blogHistory := len(mustEnv(t, r, blog, "default").History)

	sha := repo.remove("remove shop", shop)
	r.hook(t)
	eventually(t, 20*time.Second, "shop pruned", prunedFully(t, r, cs, shop, ns, "default"))

	if got := resourceVersion(t, cs, ns, blog); got != blogRV {
		t.Errorf("blog's ConfigMap changed: resourceVersion %s, was %s", got, blogRV)
	}
	b := mustEnv(t, r, blog, "default")
	if b.Sync != api.SyncSynced || b.Health != api.HealthHealthy || len(b.History) < blogHistory {
		t.Errorf("blog = %s %s, %d reconciles (was %d)", b.Sync, b.Health, len(b.History), blogHistory)
	}
	if m := r.metrics(t); strings.Contains(m, `app="`+shop+`"`) {
		t.Errorf("shop's series remain:\n%s", grep(m, shop))
	}
	evs, err := cs.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var pruned []string
	for _, ev := range evs.Items {
		if ev.Reason == "Pruned" && ev.InvolvedObject.Name == shop {
			pruned = append(pruned, ev.Message)
		}
	}
	want := fmt.Sprintf("removed from source apps at main@sha1:%s: 1 objects pruned", sha)
	if !slices.Contains(pruned, want) {
		t.Errorf("Pruned events of shop = %q, want %q", pruned, want)
	}
}

// TestRemovedEnvIsPruned: a commit removes an environment (its topology)
// from an app; that environment's objects and inventory go, the other
// environment stays as it was.
func TestRemovedEnvIsPruned(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("envgone")
	app := ns + "-shop"
	createNamespaces(t, cs, ns+"-staging", ns+"-prod")
	repo := newGitRepo(t)
	repo.commit("two envs", map[string]string{app + "/Appfile": twoEnvAppfile(app, ns, "v1", "staging", "prod")})
	r := startAgent(t, agentConfig(t, repo.url(), "", ""))
	eventually(t, 30*time.Second, "staging healthy", healthyEnv(r, app, "staging"))
	eventually(t, 30*time.Second, "prod healthy", healthyEnv(r, app, "prod"))
	stagingRV := resourceVersion(t, cs, ns+"-staging", app)

	repo.commit("drop prod", map[string]string{app + "/Appfile": twoEnvAppfile(app, ns, "v1", "staging")})
	r.hook(t)
	eventually(t, 20*time.Second, "prod pruned", func() (bool, string) {
		gone, inv := objectGone(t, cs, ns+"-prod", app), inventoryOf(t, cs, app, "prod") == nil
		st, err := r.client.App(t.Context(), app)
		if err != nil {
			return false, err.Error()
		}
		var envs []string
		for _, e := range st.Envs {
			envs = append(envs, e.Name)
		}
		return gone && inv && slices.Equal(envs, []string{"staging"}), fmt.Sprintf("object gone %v, inventory gone %v, envs %v", gone, inv, envs)
	})
	eventually(t, 10*time.Second, "staging healthy", healthyEnv(r, app, "staging"))
	if got := resourceVersion(t, cs, ns+"-staging", app); got != stagingRV {
		t.Errorf("staging's ConfigMap changed: resourceVersion %s, was %s", got, stagingRV)
	}
	if inventoryOf(t, cs, app, "staging") == nil {
		t.Error("staging's inventory is gone")
	}
	if _, err := r.env(app, "prod"); err == nil {
		t.Error("the API still has the prod environment")
	}
}

// TestBrokenAppfileIsNotARemoval: one commit breaks shop's Appfile (so
// shop's file yields no app) and deletes blog's. shop keeps its objects
// (a broken file is not a removal), and blog's removal waits, visible in
// status, until the source loads without broken files: blog may have
// moved into the broken file. The fix prunes blog.
func TestBrokenAppfileIsNotARemoval(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("notremoved")
	shop, blog := ns+"-shop", ns+"-blog"
	createNamespaces(t, cs, ns)
	repo := newGitRepo(t)
	repo.commit("two apps", map[string]string{
		shop + "/Appfile": simpleAppfile(shop, ns, "v1"),
		blog + "/Appfile": simpleAppfile(blog, ns, "v1"),
	})
	r := startAgent(t, agentConfig(t, repo.url(), "", ""))
	eventually(t, 30*time.Second, "shop healthy", healthyEnv(r, shop, "default"))
	eventually(t, 30*time.Second, "blog healthy", healthyEnv(r, blog, "default"))

	repo.commit("break shop", map[string]string{shop + "/Appfile": "name: [unterminated\n"})
	repo.remove("remove blog", blog)
	r.hook(t)
	eventually(t, 20*time.Second, "shop's error and blog's held removal shown", func() (bool, string) {
		s, err := r.client.App(t.Context(), shop)
		if err != nil {
			return false, err.Error()
		}
		b, err := r.client.App(t.Context(), blog)
		if err != nil {
			return false, err.Error()
		}
		ok := s.Error != nil && strings.HasPrefix(s.Error.Position, shop+"/Appfile:") &&
			b.Error != nil && strings.Contains(b.Error.Message, "not removed until they load")
		return ok, fmt.Sprintf("shop %+v, blog %+v", s.Error, b.Error)
	})
	for _, app := range []string{shop, blog} {
		if got := configMapData(t, cs, ns, app); got != "v1" {
			t.Errorf("%s's ConfigMap = %q, want v1 kept", app, got)
		}
		if inventoryOf(t, cs, app, "default") == nil {
			t.Errorf("%s's inventory is gone", app)
		}
	}

	repo.commit("fix shop", map[string]string{shop + "/Appfile": simpleAppfile(shop, ns, "v2")})
	r.hook(t)
	eventually(t, 20*time.Second, "blog pruned", prunedFully(t, r, cs, blog, ns, "default"))
	eventually(t, 20*time.Second, "shop at v2", func() (bool, string) {
		got := configMapData(t, cs, ns, shop)
		return got == "v2", got
	})
}

// TestRemovedAppKeptWithPruneFalse: with prune: false a removed app only
// leaves the status; its objects and inventory stay.
func TestRemovedAppKeptWithPruneFalse(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("noprune")
	shop, blog := ns+"-shop", ns+"-blog"
	createNamespaces(t, cs, ns)
	repo := newGitRepo(t)
	repo.commit("two apps", map[string]string{
		shop + "/Appfile": simpleAppfile(shop, ns, "v1"),
		blog + "/Appfile": simpleAppfile(blog, ns, "v1"),
	})
	cfg := agentConfig(t, repo.url(), "", "")
	cfg.Sources.Apps[0].Prune = new(false)
	r := startAgent(t, cfg)
	eventually(t, 30*time.Second, "shop healthy", healthyEnv(r, shop, "default"))
	eventually(t, 30*time.Second, "blog healthy", healthyEnv(r, blog, "default"))

	repo.remove("remove shop", shop)
	r.hook(t)
	// Pruning keeps an app listed until its objects are gone: unlisted
	// with its objects in place, it was forgotten, not pruned.
	eventually(t, 20*time.Second, "shop forgotten", func() (bool, string) { return !listed(t, r, shop), "still listed" })
	assertKept := func(r *running) {
		t.Helper()
		if got := configMapData(t, cs, ns, shop); got != "v1" {
			t.Errorf("shop's ConfigMap = %q, want v1 kept", got)
		}
		if inventoryOf(t, cs, shop, "default") == nil {
			t.Error("shop's inventory is gone")
		}
		if r.a.removals.has(shop) {
			t.Error("a removal of shop is pending")
		}
	}
	assertKept(r)

	// A restarted agent does not collect the orphan either.
	r.stop(t)
	r = startAgent(t, cfg)
	eventually(t, 30*time.Second, "blog healthy after the restart", healthyEnv(r, blog, "default"))
	assertKept(r)
}

// handmade applies a ConfigMap for (app, "default") with the apply
// engine directly, as carina apply does; extra, when set, is written into
// its inventory.
func handmade(t *testing.T, ns, app string, extra map[string]string) {
	t.Helper()
	m, err := apply.New(testCluster.RESTConfig(), apply.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": app, "namespace": ns, "labels": map[string]any{
			apply.LabelApp: app, apply.LabelEnv: "default", apply.LabelComponent: "cfg"}},
		"data": map[string]any{"greeting": "by hand"},
	}}
	set := &apply.Set{App: app, Env: "default", Revision: "by-hand", Digest: "sha256:hand", Objects: []apply.Object{{Obj: u, Component: "cfg"}}}
	if _, err := m.Apply(t.Context(), set, apply.DefaultApplyOptions()); err != nil {
		t.Fatal(err)
	}
	if extra != nil {
		err := m.UpdateInventory(t.Context(), app, "default", func(inv *inventory.Inventory) error {
			inv.Extra = extra
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestRemovedWhileStoppedIsPrunedAfterRestart: an app is removed while
// no agent runs; the next agent finds its inventory, which names the
// source, and prunes it. Inventories without the source key (carina
// apply) or naming the same source name in another repository (another
// agent) are left alone.
func TestRemovedWhileStoppedIsPrunedAfterRestart(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("orphan")
	shop, blog, byHand, other := ns+"-shop", ns+"-blog", ns+"-hand", ns+"-other"
	createNamespaces(t, cs, ns)
	repo := newGitRepo(t)
	repo.commit("two apps", map[string]string{
		shop + "/Appfile": simpleAppfile(shop, ns, "v1"),
		blog + "/Appfile": simpleAppfile(blog, ns, "v1"),
	})
	first := startAgent(t, agentConfig(t, repo.url(), "", ""))
	eventually(t, 30*time.Second, "shop healthy", healthyEnv(first, shop, "default"))
	eventually(t, 30*time.Second, "blog healthy", healthyEnv(first, blog, "default"))
	first.stop(t)
	handmade(t, ns, byHand, nil)
	handmade(t, ns, other, map[string]string{extraSource: "apps", extraRepo: "git.example.com/someone/else"})

	repo.remove("remove shop", shop)
	blogRV := resourceVersion(t, cs, ns, blog)
	second := startAgent(t, agentConfig(t, repo.url(), "", ""))
	eventually(t, 30*time.Second, "orphaned shop pruned", prunedFully(t, second, cs, shop, ns, "default"))
	eventually(t, 10*time.Second, "blog healthy", healthyEnv(second, blog, "default"))
	if got := resourceVersion(t, cs, ns, blog); got != blogRV {
		t.Errorf("blog's ConfigMap changed: resourceVersion %s, was %s", got, blogRV)
	}
	for _, app := range []string{byHand, other} {
		if got := configMapData(t, cs, ns, app); got != "by hand" {
			t.Errorf("%s's ConfigMap = %q, want it left alone", app, got)
		}
		if inventoryOf(t, cs, app, "default") == nil {
			t.Errorf("%s's inventory was deleted", app)
		}
	}
}

// TestRemovedAppFailedPruneRetries: the agent's user may not delete
// ConfigMaps, so the prune of a removed app fails: the app stays listed,
// Pruning, with the sanitized error, and the prune backs off and
// retries; once RBAC allows it the app is pruned.
func TestRemovedAppFailedPruneRetries(t *testing.T) {
	c, cs := needCluster(t)
	ns := testNS("pruneretry")
	shop := ns + "-shop"
	user := "carina-" + ns
	createNamespaces(t, cs, ns)
	grant := func(name string, verbs ...string) {
		t.Helper()
		role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: verbs}}}
		binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}}}
		if _, err := cs.RbacV1().ClusterRoles().Create(t.Context(), role, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.RbacV1().ClusterRoleBindings().Create(t.Context(), binding, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx := context.Background()
			_ = cs.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
			_ = cs.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
		})
	}
	grant(user+"-write", "get", "list", "watch", "create", "update", "patch")
	rc, err := c.UserConfig(user)
	if err != nil {
		t.Fatal(err)
	}
	repo := newGitRepo(t)
	repo.commit("shop", map[string]string{shop + "/Appfile": simpleAppfile(shop, ns, "v1")})
	// allowEmpty: the only app goes, which the mass-deletion guard would hold.
	_, cfg := agentConfigSources(t, allowEmptySource(repo.url()), "", writeKubeconfig(t, rc), "127.0.0.1:0", "")
	r := startAgent(t, cfg)
	eventually(t, 30*time.Second, "shop healthy", healthyEnv(r, shop, "default"))

	repo.remove("remove shop", shop)
	r.hook(t)
	eventually(t, 20*time.Second, "shop Pruning with the error", func() (bool, string) {
		st, err := r.client.App(t.Context(), shop)
		if err != nil {
			return false, err.Error()
		}
		if len(st.Envs) != 1 || st.Envs[0].LastError == nil || st.Error == nil {
			return false, fmt.Sprintf("%+v", st)
		}
		e := st.Envs[0]
		return e.Sync == api.SyncPruning && strings.Contains(e.LastError.Message, "pruning failed") &&
				strings.Contains(e.LastError.Message, "forbidden") && strings.Contains(st.Error.Message, "removed from source apps at"),
			fmt.Sprintf("%s %q / %q", e.Sync, e.LastError.Message, st.Error.Message)
	})
	if got := configMapData(t, cs, ns, shop); got != "v1" {
		t.Errorf("shop's ConfigMap = %q while deletes are forbidden", got)
	}
	evs, err := cs.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(evs.Items, func(ev corev1.Event) bool { return ev.Reason == "PruneFailed" && ev.InvolvedObject.Name == shop }) {
		t.Error("no PruneFailed event")
	}

	grant(user+"-delete", "delete")
	eventually(t, 20*time.Second, "shop pruned after the grant", prunedFully(t, r, cs, shop, ns, "default"))
	if _, err := r.client.App(t.Context(), shop); !isNotFound(err) {
		t.Errorf("App(shop) after the prune = %v, want not found", err)
	}
}

// TestRemovedSuspendedAppWaits: a suspended app that leaves its source
// keeps its objects, shown as waiting, until it is resumed.
func TestRemovedSuspendedAppWaits(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("suspgone")
	shop := ns + "-shop"
	createNamespaces(t, cs, ns)
	repo := newGitRepo(t)
	repo.commit("shop", map[string]string{shop + "/Appfile": simpleAppfile(shop, ns, "v1")})
	_, cfg := agentConfigSources(t, allowEmptySource(repo.url()), "", testCluster.Kubeconfig(), "127.0.0.1:0", "")
	r := startAgent(t, cfg)
	eventually(t, 30*time.Second, "shop healthy", healthyEnv(r, shop, "default"))
	if _, err := r.client.Suspend(t.Context(), shop); err != nil {
		t.Fatal(err)
	}

	repo.remove("remove shop", shop)
	r.hook(t)
	eventually(t, 20*time.Second, "the prune waits", func() (bool, string) {
		e, err := r.env(shop, "default")
		if err != nil || e.LastError == nil {
			return false, fmt.Sprint(err)
		}
		return e.Sync == api.SyncPruning && strings.Contains(e.LastError.Message, "pruning waits: the application is suspended"), e.LastError.Message
	})
	if got := configMapData(t, cs, ns, shop); got != "v1" {
		t.Errorf("shop's ConfigMap = %q while suspended, want v1", got)
	}
	if _, err := r.client.Resume(t.Context(), shop); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "shop pruned after the resume", prunedFully(t, r, cs, shop, ns, "default"))
}

func isNotFound(err error) bool {
	var se *api.StatusError
	return errors.As(err, &se) && se.Code == 404
}

// clustersAppfile is one ConfigMap in ns, in an env prod on clusters.
func clustersAppfile(app, ns string, clusters ...string) string {
	return fmt.Sprintf(`name: %[1]s
services:
  cfg:
    type: k8s-objects
    objects:
      - apiVersion: v1
        kind: ConfigMap
        metadata: {name: %[1]s}
        data: {greeting: v1}
environments:
  prod:
    clusters: [%[3]s]
    namespace: %[2]s
`, app, ns, strings.Join(clusters, ", "))
}

// startSecondCluster starts another control plane for the test.
func startSecondCluster(t *testing.T) (*cluster.Cluster, kubernetes.Interface) {
	t.Helper()
	opts := cluster.DefaultOptions()
	opts.Name = "second"
	c, err := cluster.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	cs, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	return c, cs
}
