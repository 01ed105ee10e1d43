package agent

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/e2e/cluster"
)

// tenantSA is the service account the tenant tests' environments name.
const tenantSA = "deployer"

// tenantUser is the user the API server sees for tenantSA of ns.
func tenantUser(ns string) string { return "system:serviceaccount:" + ns + ":" + tenantSA }

// grantTenant makes tenantSA in ns with a Role like deploy/rbac/
// namespaced-tenants gives a tenant: the namespaced kinds of the tests,
// in ns only, and get of its own Namespace. The agent runs as a cluster
// admin: whatever it did without impersonating would succeed, so what
// the tenant is refused proves the requests ran as the tenant.
func grantTenant(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	ctx := t.Context()
	all := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: tenantSA}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: tenantSA}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps", "services"}, Verbs: all},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: all},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}, ResourceNames: []string{ns}},
	}}
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: tenantSA},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: tenantSA},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: tenantSA, Namespace: ns}}}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// tenantAppfile is an app whose environment "prod" deploys to ns as
// tenantSA; objects is the YAML list of its component's objects.
func tenantAppfile(app, ns, objects string) string {
	return fmt.Sprintf(`name: %s
services:
  web:
    type: k8s-objects
    objects:
%s
environments:
  prod:
    clusters: [local]
    namespace: %s
    serviceAccount: %s
`, app, objects, ns, tenantSA)
}

// tenantObjects: a ConfigMap with greeting, a Deployment, and a second
// ConfigMap "extra" when extra is set.
func tenantObjects(greeting string, extra bool) string {
	s := fmt.Sprintf(`      - {apiVersion: v1, kind: ConfigMap, metadata: {name: cfg}, data: {greeting: %s}}
      - apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 1
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec: {containers: [{name: web, image: "registry.example.com/web:1.0"}]}
`, greeting)
	if extra {
		s += "      - {apiVersion: v1, kind: ConfigMap, metadata: {name: extra}, data: {greeting: extra}}\n"
	}
	return strings.TrimSuffix(s, "\n")
}

// agentRequests are the audit events of the agent's apply engine
// (user agent "carina") about objects in ns since the start-th event.
func agentRequests(t *testing.T, c *cluster.Cluster, ns string, start int) []auditv1.Event {
	t.Helper()
	evs, err := c.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	var out []auditv1.Event
	for _, ev := range evs[start:] {
		if strings.HasPrefix(ev.UserAgent, "carina") && ev.ObjectRef != nil && ev.ObjectRef.Namespace == ns {
			out = append(out, ev)
		}
	}
	return out
}

func auditMark(t *testing.T, c *cluster.Cluster) int {
	t.Helper()
	evs, err := c.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// tenantInventory reads the inventory ConfigMap of (app, env) in ns, nil
// when there is none.
func tenantInventory(t *testing.T, cs kubernetes.Interface, ns, app, env string) *corev1.ConfigMap {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), inventory.Name(app, env), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

// TestTenantDeploysPrunesAndCorrects: an environment that names a
// serviceAccount is deployed, health-checked, corrected after a kubectl
// edit and pruned as that service account, with its inventory in its
// namespace; an app of the tenant removed while no agent ran is found
// there and pruned as the tenant, and one removed while the agent runs
// too. A forged inventory in the tenant's namespace that names no
// service account is left alone. The audit log shows every request of
// the apply engine in the namespace as the tenant.
func TestTenantDeploysPrunesAndCorrects(t *testing.T) {
	c, cs := needCluster(t)
	ns := testNS("tenant")
	shop, blog, forged := ns+"-shop", ns+"-blog", ns+"-forged"
	createNamespaces(t, cs, ns)
	grantTenant(t, cs, ns)
	start := auditMark(t, c)
	repo := newGitRepo(t)
	repo.commit("two tenant apps", map[string]string{
		shop + "/Appfile": tenantAppfile(shop, ns, tenantObjects("v1", true)),
		blog + "/Appfile": tenantAppfile(blog, ns, fmt.Sprintf("      - {apiVersion: v1, kind: ConfigMap, metadata: {name: %s}, data: {greeting: v1}}", blog)),
	})
	first := startAgent(t, agentConfig(t, repo.url(), "", ""))
	eventually(t, 60*time.Second, "shop healthy", healthyEnv(first, shop, "prod"))
	eventually(t, 30*time.Second, "blog healthy", healthyEnv(first, blog, "prod"))

	inv := tenantInventory(t, cs, ns, shop, "prod")
	if inv == nil || inv.Data["x."+extraServiceAccount] != tenantSA || inv.Data["x."+extraSource] != "apps" {
		t.Fatalf("shop's inventory in %s does not name its service account and source: %v", ns, inv)
	}
	if inventoryOf(t, cs, shop, "prod") != nil {
		t.Errorf("shop has an inventory in %s too", apply.DefaultOptions().InventoryNamespace)
	}

	// Drift: a kubectl edit is undone, as the tenant.
	if err := edit(t.Context(), cs, ns, "cfg", "edited"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "edit undone", func() (bool, string) {
		got := configMapData(t, cs, ns, "cfg")
		return got == "v1", got
	})

	// Prune: extra leaves Git.
	repo.commit("v2 without extra", map[string]string{shop + "/Appfile": tenantAppfile(shop, ns, tenantObjects("v2", false))})
	first.hook(t)
	eventually(t, 30*time.Second, "extra pruned", func() (bool, string) {
		g := configMapData(t, cs, ns, "cfg")
		return g == "v2" && objectGone(t, cs, ns, "extra"), "greeting " + g
	})
	eventually(t, 30*time.Second, "shop healthy at v2", healthyEnv(first, shop, "prod"))
	first.stop(t)

	// Removed while no agent runs: blog's inventory is in the tenant's
	// namespace, where the next agent finds it. A forged inventory there
	// naming the source but no service account is not the agent's to
	// prune with its own rights.
	forgeInventory(t, ns, forged, map[string]string{extraSource: "apps", extraRepo: inv.Data["x."+extraRepo]})
	repo.remove("remove blog", blog)
	// allowEmpty: shop, the last app, goes below; the mass-deletion guard
	// would hold it (e2e_guard_test.go tests the guard).
	_, cfg := agentConfigSources(t, allowEmptySource(repo.url()), "", testCluster.Kubeconfig(), "127.0.0.1:0", "")
	second := startAgent(t, cfg)
	eventually(t, 30*time.Second, "orphaned blog pruned", func() (bool, string) {
		gone, invGone := objectGone(t, cs, ns, blog), tenantInventory(t, cs, ns, blog, "prod") == nil
		return gone && invGone, fmt.Sprintf("object gone %v, inventory gone %v", gone, invGone)
	})
	eventually(t, 30*time.Second, "shop healthy after the restart", healthyEnv(second, shop, "prod"))

	// Removed while the agent runs.
	repo.remove("remove shop", shop)
	second.hook(t)
	eventually(t, 30*time.Second, "shop pruned", func() (bool, string) {
		gone, invGone, l := objectGone(t, cs, ns, "cfg"), tenantInventory(t, cs, ns, shop, "prod") == nil, listed(t, second, shop)
		return gone && invGone && !l, fmt.Sprintf("object gone %v, inventory gone %v, listed %v", gone, invGone, l)
	})
	if got := configMapData(t, cs, ns, forged); got != "forged" || tenantInventory(t, cs, ns, forged, "default") == nil {
		t.Errorf("the forged inventory's object %q or the inventory was deleted", got)
	}
	second.stop(t)
	checkTenantRequests(t, agentRequests(t, c, ns, start), tenantUser(ns), inventory.Name(shop, "prod"))
}

// forgeInventory writes, as a cluster admin, a ConfigMap of (app, "default") in ns
// and an inventory of it in ns with extra: what anyone who may write
// ConfigMaps in a tenant's namespace could write.
func forgeInventory(t *testing.T, ns, app string, extra map[string]string) {
	t.Helper()
	opts := apply.DefaultOptions()
	opts.InventoryNamespace = ns
	rc := testCluster.RESTConfig()
	rc.UserAgent = "tenant-test-forge" // not the agent's apply engine in the audit log
	m, err := apply.New(rc, opts)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": app, "namespace": ns, "labels": map[string]any{
			apply.LabelApp: app, apply.LabelEnv: "default", apply.LabelComponent: "cfg"}},
		"data": map[string]any{"greeting": "forged"},
	}}
	set := &apply.Set{App: app, Env: "default", Revision: "forged", Digest: "sha256:forged", Objects: []apply.Object{{Obj: u, Component: "cfg"}}}
	if _, err := m.Apply(t.Context(), set, apply.DefaultApplyOptions()); err != nil {
		t.Fatal(err)
	}
	err = m.UpdateInventory(t.Context(), app, "default", func(inv *inventory.Inventory) error {
		inv.Extra = extra
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkTenantRequests: every request of the apply engine in the tenant's
// namespace ran as user, impersonated, and those requests wrote the
// objects, corrected them, pruned and kept the inventory.
func checkTenantRequests(t *testing.T, evs []auditv1.Event, user, invName string) {
	t.Helper()
	var writes []string
	for _, ev := range evs {
		if ev.ImpersonatedUser == nil || ev.ImpersonatedUser.Username != user {
			t.Errorf("request %s %s by %s, not as %s", ev.Verb, ev.RequestURI, ev.User.Username, user)
			continue
		}
		if cluster.WriteVerbs[ev.Verb] && ev.ResponseStatus != nil && ev.ResponseStatus.Code < 300 && !strings.Contains(ev.RequestURI, "dryRun=All") {
			w := ev.Verb + " " + ev.ObjectRef.Resource
			if ev.ObjectRef.Name == invName {
				w += " (inventory)"
			}
			writes = append(writes, w)
		}
	}
	for _, want := range []string{"patch configmaps", "patch deployments", "delete configmaps", "patch configmaps (inventory)", "delete configmaps (inventory)"} {
		if !slices.Contains(writes, want) {
			t.Errorf("no %q as %s; writes: %v", want, user, writes)
		}
	}
	t.Logf("%d requests of the apply engine, all as %s; %d writes", len(evs), user, len(writes))
}

// TestTenantEscalationRefused: an app whose environment acts as a tenant
// holds a ClusterRoleBinding, another one a ConfigMap in a foreign
// namespace, each next to a ConfigMap the tenant may write. Both are
// refused with 403: the env's status error names the user and the
// permission it lacks (verb, resource, and the namespace or the cluster
// scope), and nothing of either app is written (audit log), not even the
// allowed ConfigMaps or the inventories.
func TestTenantEscalationRefused(t *testing.T) {
	c, cs := needCluster(t)
	ns := testNS("tenant-esc")
	foreign := ns + "-other"
	crbApp, foreignApp := ns+"-crb", ns+"-foreign"
	createNamespaces(t, cs, ns, foreign)
	grantTenant(t, cs, ns)
	start := auditMark(t, c)
	allowed := func(name string) string {
		return fmt.Sprintf("      - {apiVersion: v1, kind: ConfigMap, metadata: {name: %s}, data: {greeting: v1}}\n", name)
	}
	crb := fmt.Sprintf(`      - apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRoleBinding
        metadata: {name: %s-admin}
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
        subjects: [{kind: ServiceAccount, name: %s, namespace: %s}]`, ns, tenantSA, ns)
	other := fmt.Sprintf("      - {apiVersion: v1, kind: ConfigMap, metadata: {name: planted, namespace: %s}, data: {greeting: v1}}", foreign)
	repo := newGitRepo(t)
	repo.commit("escalations", map[string]string{
		crbApp + "/Appfile":     tenantAppfile(crbApp, ns, allowed(crbApp)+crb),
		foreignApp + "/Appfile": tenantAppfile(foreignApp, ns, allowed(foreignApp)+other),
	})
	r := startAgent(t, agentConfig(t, repo.url(), "", ""))
	user := regexp.QuoteMeta(tenantUser(ns))
	for _, tc := range []struct {
		app  string
		want *regexp.Regexp
	}{
		{crbApp, regexp.MustCompile(`forbidden: User "` + user + `" cannot \w+ resource "clusterrolebindings" in API group "rbac.authorization.k8s.io" at the cluster scope`)},
		{foreignApp, regexp.MustCompile(`forbidden: User "` + user + `" cannot \w+ resource "\w+" in API group "" in the namespace "` + foreign + `"`)},
	} {
		var last string
		eventually(t, 60*time.Second, tc.app+" refused", func() (bool, string) {
			e, err := r.env(tc.app, "prod")
			if err != nil || e.LastError == nil {
				return false, fmt.Sprintf("%+v %v", e.LastError, err)
			}
			last = e.LastError.Message
			return strings.Contains(last, "forbidden"), last
		})
		if !tc.want.MatchString(last) {
			t.Errorf("%s's error does not name the missing permission (%s):\n%s", tc.app, tc.want, last)
		}
		t.Logf("%s refused: %s", tc.app, last)
	}
	r.stop(t)

	ctx := t.Context()
	for _, get := range []func() error{
		func() error {
			_, err := cs.RbacV1().ClusterRoleBindings().Get(ctx, ns+"-admin", metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := cs.CoreV1().ConfigMaps(foreign).Get(ctx, "planted", metav1.GetOptions{})
			return err
		},
		func() error { _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, crbApp, metav1.GetOptions{}); return err },
		func() error {
			_, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, foreignApp, metav1.GetOptions{})
			return err
		},
	} {
		if err := get(); !apierrors.IsNotFound(err) {
			t.Errorf("an object of a refused app: %v, want not found", err)
		}
	}
	for _, app := range []string{crbApp, foreignApp} {
		if tenantInventory(t, cs, ns, app, "prod") != nil || inventoryOf(t, cs, app, "prod") != nil {
			t.Errorf("%s has an inventory", app)
		}
	}
	evs, err := c.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	forbidden := 0
	for _, ev := range evs[start:] {
		if !strings.HasPrefix(ev.UserAgent, "carina") || ev.ObjectRef == nil {
			continue
		}
		mine := ev.ObjectRef.Namespace == ns || ev.ObjectRef.Namespace == foreign || ev.ObjectRef.Resource == "clusterrolebindings"
		if !mine {
			continue
		}
		if ev.ImpersonatedUser == nil || ev.ImpersonatedUser.Username != tenantUser(ns) {
			t.Errorf("request %s %s by %s, not as the tenant", ev.Verb, ev.RequestURI, ev.User.Username)
		}
		code := int32(0)
		if ev.ResponseStatus != nil {
			code = ev.ResponseStatus.Code
		}
		if code == 403 {
			forbidden++
		}
		if cluster.WriteVerbs[ev.Verb] && code < 300 && !strings.Contains(ev.RequestURI, "dryRun=All") {
			t.Errorf("the tenant wrote: %s %s (%d)", ev.Verb, ev.RequestURI, code)
		}
	}
	if forbidden < 2 {
		t.Errorf("%d requests refused with 403 as the tenant, want at least 2", forbidden)
	}
	t.Logf("%d requests refused with 403 as %s; no write", forbidden, tenantUser(ns))
}
