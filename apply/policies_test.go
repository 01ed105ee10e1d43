package apply

import (
	"errors"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/carina-gitops/carina/apply/internal/applytest"
)

func TestReadOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	ro := e.owner.ConfigMap(e.ns, "platform", map[string]string{"a": "desired"})
	s := e.set(e.owner.ConfigMap(e.ns, "mine", nil), ro)
	s.Objects[1].Policies.ReadOnly = true
	if _, err := m.Apply(t.Context(), s, DefaultApplyOptions()); err == nil || !strings.Contains(err.Error(), "read-only object does not exist") {
		t.Fatalf("apply with a missing read-only object: %v", err)
	}
	existing := ro.DeepCopy()
	existing.SetLabels(nil)
	unstructured.SetNestedField(existing.Object, "live", "data", "a")
	if _, err := dyn(t).Resource(configMapGVR).Namespace(e.ns).Create(t.Context(), existing, createOpts); err != nil {
		t.Fatal(err)
	}
	cs := mustApply(t, m, s)
	if got := actions(cs)["ConfigMap/"+e.ns+"/platform"]; got != Skipped {
		t.Errorf("read-only object: %s, want skipped", got)
	}
	if got := getConfigMap(t, e.ns, "platform").Data["a"]; got != "live" {
		t.Errorf("read-only object was written: a=%q", got)
	}
	if keys := inventoryKeys(t, e, m); len(keys) != 1 {
		t.Errorf("inventory %v, want only mine", keys)
	}
}

func TestApplyOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	dep := e.owner.Deployment(e.ns, "web", 1, nil)
	cm := e.owner.ConfigMap(e.ns, "seed", map[string]string{"v": "1"})
	set := func(dep, cm *unstructured.Unstructured) *Set {
		s := e.set(dep, cm)
		s.Objects[0].Policies.ApplyOnce = ApplyOnce{Enabled: true, Paths: []string{"spec.replicas"}}
		s.Objects[1].Policies.ApplyOnce = ApplyOnce{Enabled: true}
		return s
	}
	mustApply(t, m, set(dep, cm))
	scale := []byte(`{"spec":{"replicas":4}}`)
	if _, err := testClient.AppsV1().Deployments(e.ns).Patch(t.Context(), "web", types.MergePatchType, scale, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	dep2 := dep.DeepCopy()
	unstructured.SetNestedField(dep2.Object, "registry.example/app:2", "spec", "template", "spec", "containers", "0", "image")
	containers, _, _ := unstructured.NestedSlice(dep2.Object, "spec", "template", "spec", "containers")
	containers[0].(map[string]any)["image"] = "registry.example/app:2"
	unstructured.SetNestedSlice(dep2.Object, containers, "spec", "template", "spec", "containers")
	cs := mustApply(t, m, set(dep2, e.owner.ConfigMap(e.ns, "seed", map[string]string{"v": "2"})))
	if got := actions(cs); got["Deployment/"+e.ns+"/web"] != Configured || got["ConfigMap/"+e.ns+"/seed"] != Skipped {
		t.Errorf("actions %v", got)
	}
	live, err := testClient.AppsV1().Deployments(e.ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *live.Spec.Replicas != 4 || live.Spec.Template.Spec.Containers[0].Image != "registry.example/app:2" {
		t.Errorf("replicas %d image %s, want 4 (kept) and app:2", *live.Spec.Replicas, live.Spec.Template.Spec.Containers[0].Image)
	}
	if got := getConfigMap(t, e.ns, "seed").Data["v"]; got != "1" {
		t.Errorf("apply-once ConfigMap was rewritten: v=%q", got)
	}
}

func TestSharedResource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	other := &env{ns: e.ns, app: e.app + "-b", env: e.env}
	other.owner = applytest.Owner{App: other.app, Env: other.env, Component: "web"}
	shared := func(o applytest.Owner) *Set {
		s := &Set{App: o.App, Env: o.Env, Objects: []Object{{Obj: o.ConfigMap(e.ns, "common", map[string]string{"by": o.App}), Component: "web", Policies: Policies{Shared: true}}}}
		s.Objects = append(s.Objects, Object{Obj: o.ConfigMap(e.ns, "own-"+o.App, nil), Component: "web"})
		return s
	}
	mustApply(t, m, shared(e.owner))
	cs := mustApply(t, m, shared(other.owner))
	if got := cs.Entries[0]; got.Action != Configured || !strings.Contains(got.Reason, "shared: owned by app "+e.app) {
		t.Errorf("second app: %v", got)
	}
	cs = mustApply(t, m, shared(other.owner))
	if got := cs.Entries[0].Action; got != Unchanged {
		t.Errorf("second app again: %s, want unchanged", got)
	}
	if got := getConfigMap(t, e.ns, "common").Data["by"]; got != e.app {
		t.Errorf("data.by = %q, want the first app's", got)
	}
	// The owner leaves: the object goes to the app that shares it.
	only := &Set{App: e.app, Env: e.env, Objects: shared(e.owner).Objects[1:]}
	cs = mustApply(t, m, only)
	if got := actions(cs)["ConfigMap/"+e.ns+"/common"]; got != Skipped {
		t.Errorf("owner leaving: %s, want skipped (handed over)", got)
	}
	if got := getConfigMap(t, e.ns, "common").Labels[LabelApp]; got != other.app {
		t.Fatalf("owner label %q, want %q", got, other.app)
	}
	// The last app leaves: now it is deleted.
	cs = mustApply(t, m, &Set{App: other.app, Env: other.env, Objects: shared(other.owner).Objects[1:]})
	if got := actions(cs)["ConfigMap/"+e.ns+"/common"]; got != Pruned {
		t.Errorf("last app leaving: %s, want pruned (%v)", got, cs.Entries)
	}
	if exists(t, e.ns, "common") {
		t.Error("common still exists")
	}
}

func TestImpersonation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m, err := testManager(t).ImpersonateServiceAccount(e.ns, "deployer")
	if err != nil {
		t.Fatal(err)
	}
	mark := len(auditEvents(t))
	_, err = m.Apply(t.Context(), e.set(e.owner.ConfigMap(e.ns, "x", nil)), DefaultApplyOptions())
	if !apierrors.IsForbidden(errors.Unwrap(err)) && !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("apply as a service account without rights: %v, want forbidden", err)
	}
	if !strings.Contains(err.Error(), "system:serviceaccount:"+e.ns+":deployer") {
		t.Errorf("error %q does not name the impersonated account", err)
	}
	for _, ev := range applytest.Since(auditEvents(t), mark) {
		mine := ev.ObjectRef != nil && (ev.ObjectRef.Namespace == e.ns || ev.ObjectRef.Name == inventoryName(e.app, e.env))
		if mine && ev.User.Username == testUser && ev.ImpersonatedUser == nil {
			t.Errorf("request without impersonation: %s %s", ev.Verb, ev.RequestURI)
		}
	}
}

// TestImpersonateTenant: a tenant's Manager applies, lists and deletes
// as the service account, with its inventory in the tenant's namespace,
// where ListAllInventories finds it (and says where).
func TestImpersonateTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	grantTenant(t, e.ns, "deployer")
	m, err := testManager(t).ImpersonateTenant(e.ns, "deployer")
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, m, e.set(e.owner.ConfigMap(e.ns, "x", nil)))
	if _, err := testClient.CoreV1().ConfigMaps(e.ns).Get(t.Context(), inventoryName(e.app, e.env), metav1.GetOptions{}); err != nil {
		t.Errorf("inventory not in the tenant's namespace: %v", err)
	}
	if _, err := testClient.CoreV1().ConfigMaps(DefaultOptions().InventoryNamespace).Get(t.Context(), inventoryName(e.app, e.env), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("inventory in %s: %v, want none", DefaultOptions().InventoryNamespace, err)
	}
	all, err := testManager(t).ListAllInventories(t.Context())
	if err != nil && len(all) == 0 {
		t.Fatal(err)
	}
	var where []string
	for _, f := range all {
		if f.App == e.app {
			where = append(where, f.Namespace+"/"+f.Env)
		}
	}
	if want := []string{e.ns + "/" + e.env}; !slices.Equal(where, want) {
		t.Errorf("ListAllInventories found %v, want %v", where, want)
	}
	if _, err := m.Delete(t.Context(), e.app, e.env); err != nil {
		t.Fatal(err)
	}
	if inv, err := m.ReadInventory(t.Context(), e.app, e.env); inv != nil || err != nil {
		t.Errorf("inventory after the delete: %v, %v", inv, err)
	}
	for _, ev := range applytest.Since(auditEvents(t), e.auditStart) {
		if ev.ObjectRef != nil && ev.ObjectRef.Namespace == e.ns && ev.User.Username == testUser && ev.ImpersonatedUser == nil {
			t.Errorf("request without impersonation: %s %s", ev.Verb, ev.RequestURI)
		}
	}
}

// grantTenant lets service account sa of ns write ConfigMaps and read
// its Namespace there, as deploy/rbac/namespaced-tenants does.
func grantTenant(t *testing.T, ns, sa string) {
	t.Helper()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: ns}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}, ResourceNames: []string{ns}},
	}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: sa},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: ns}}}
	if _, err := testClient.RbacV1().Roles(ns).Create(t.Context(), role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := testClient.RbacV1().RoleBindings(ns).Create(t.Context(), binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
