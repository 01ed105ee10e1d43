package apply

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/carina-gitops/carina/apply/inventory"
)

// inventoryKeys returns the inventory's IDs as printed strings.
func inventoryKeys(t testing.TB, e *env, m *Manager) []string {
	t.Helper()
	var out []string
	for _, en := range e.readInventory(t, m).Entries {
		out = append(out, en.ID.String())
	}
	return out
}

// exists reports whether a ConfigMap exists and is not being deleted
// (prune deletes in the foreground: the garbage collector removes the
// object a moment later).
func exists(t testing.TB, ns, name string) bool {
	t.Helper()
	cm, err := testClient.CoreV1().ConfigMaps(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil && cm.DeletionTimestamp == nil
}

func TestPrune(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	cm := func(name string) *unstructured.Unstructured {
		return e.owner.ConfigMap(e.ns, name, map[string]string{"x": name})
	}
	mustApply(t, m, e.set(cm("a"), cm("b"), cm("victim")))
	// Someone replaces victim with an object of the same name that is not
	// Carina's.
	if err := testClient.CoreV1().ConfigMaps(e.ns).Delete(t.Context(), "victim", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	foreign := cm("victim")
	foreign.SetLabels(map[string]string{"owner": "someone-else"})
	if _, err := dyn(t).Resource(configMapGVR).Namespace(e.ns).Create(t.Context(), foreign, createOpts); err != nil {
		t.Fatal(err)
	}
	cs := mustApply(t, m, e.set(cm("a")))
	got := actions(cs)
	want := map[string]Action{"ConfigMap/" + e.ns + "/a": Unchanged, "ConfigMap/" + e.ns + "/b": Pruned, "ConfigMap/" + e.ns + "/victim": Skipped}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	if exists(t, e.ns, "b") {
		t.Error("b was not pruned")
	}
	if !exists(t, e.ns, "victim") {
		t.Error("the unlabelled victim was deleted")
	}
	if diff := cmp.Diff([]string{"ConfigMap/" + e.ns + "/a"}, inventoryKeys(t, e, m)); diff != "" {
		t.Errorf("inventory (-want +got):\n%s", diff)
	}
}

func TestPruneDisabledAndGarbageCollect(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	keep := e.owner.ConfigMap(e.ns, "keep", nil)
	keep.SetAnnotations(map[string]string{AnnotationPrune: "disabled"})
	s := e.set(e.owner.ConfigMap(e.ns, "a", nil), keep, e.owner.ConfigMap(e.ns, "never", nil), e.owner.ConfigMap(e.ns, "on-delete", nil))
	s.Objects[2].Policies.Prune = inventory.PruneNever
	s.Objects[3].Policies.Prune = inventory.PruneOnAppDelete
	mustApply(t, m, s)
	cs := mustApply(t, m, e.set(e.owner.ConfigMap(e.ns, "a", nil)))
	for _, name := range []string{"keep", "never", "on-delete"} {
		if !exists(t, e.ns, name) {
			t.Errorf("%s was deleted", name)
		}
	}
	if got := actions(cs); got["ConfigMap/"+e.ns+"/keep"] != Skipped || got["ConfigMap/"+e.ns+"/never"] != Skipped {
		t.Errorf("actions = %v, want keep and never skipped", got)
	}
	// Only the onAppDelete object stays in the inventory, until Delete.
	want := []string{"ConfigMap/" + e.ns + "/a", "ConfigMap/" + e.ns + "/on-delete"}
	if diff := cmp.Diff(want, inventoryKeys(t, e, m)); diff != "" {
		t.Errorf("inventory (-want +got):\n%s", diff)
	}
	cs, err := m.Delete(t.Context(), e.app, e.env)
	if err != nil {
		t.Fatal(err)
	}
	if cs.Count(Pruned) != 2 || exists(t, e.ns, "on-delete") || exists(t, e.ns, "a") || !exists(t, e.ns, "keep") || !exists(t, e.ns, "never") {
		t.Errorf("Delete: %v", cs.Entries)
	}
	if inv, err := m.ReadInventory(t.Context(), e.app, e.env); inv != nil || err != nil {
		t.Errorf("inventory after Delete: %v, %v", inv, err)
	}
}

var (
	vapGVR  = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicies"}
	vapbGVR = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicybindings"}
)

// denyDelete installs a ValidatingAdmissionPolicy that rejects deleting
// ConfigMap name in ns, and waits until the API server enforces it.
func denyDelete(t *testing.T, ns, name string) (remove func()) {
	t.Helper()
	policy := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
		"metadata": map[string]any{"name": "deny-" + ns},
		"spec": map[string]any{
			"failurePolicy": "Fail",
			"matchConstraints": map[string]any{"resourceRules": []any{map[string]any{
				"apiGroups": []any{""}, "apiVersions": []any{"v1"}, "operations": []any{"DELETE"}, "resources": []any{"configmaps"},
			}}},
			"validations": []any{map[string]any{"expression": "oldObject.metadata.name != '" + name + "'", "message": name + " is guarded"}},
		},
	}}
	binding := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
		"metadata": map[string]any{"name": "deny-" + ns},
		"spec": map[string]any{
			"policyName": "deny-" + ns, "validationActions": []any{"Deny"},
			"matchResources": map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": ns}}},
		},
	}}
	d := dyn(t)
	for _, o := range []struct {
		gvr schema.GroupVersionResource
		u   *unstructured.Unstructured
	}{{vapGVR, policy}, {vapbGVR, binding}} {
		if _, err := d.Resource(o.gvr).Create(t.Context(), o.u, createOpts); err != nil {
			t.Fatal(err)
		}
	}
	waitDelete(t, ns, name, false)
	return func() {
		if err := d.Resource(vapbGVR).Delete(t.Context(), "deny-"+ns, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := d.Resource(vapGVR).Delete(t.Context(), "deny-"+ns, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitDelete(t, ns, name, true)
	}
}

// waitDelete waits until a dry-run delete of the ConfigMap is allowed
// (or rejected).
func waitDelete(t *testing.T, ns, name string, allowed bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := testClient.CoreV1().ConfigMaps(ns).Delete(t.Context(), name, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		if (err == nil) == allowed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("dry-run delete of %s/%s: %v; want allowed=%v", ns, name, err, allowed)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestRejectedDeleteIsRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	a, guarded := e.owner.ConfigMap(e.ns, "a", nil), e.owner.ConfigMap(e.ns, "guarded", nil)
	mustApply(t, m, e.set(a, guarded))
	remove := denyDelete(t, e.ns, "guarded")
	cs, err := m.Apply(t.Context(), e.set(a), DefaultApplyOptions())
	var se *StageError
	if !errors.As(err, &se) || se.Stage != StagePrune || !strings.Contains(err.Error(), "guarded is guarded") {
		t.Fatalf("error = %v, want a prune StageError naming the policy's message", err)
	}
	if got := actions(cs)["ConfigMap/"+e.ns+"/guarded"]; got != Failed {
		t.Errorf("guarded: %s, want failed", got)
	}
	if !exists(t, e.ns, "guarded") {
		t.Fatal("guarded is gone")
	}
	inv := e.readInventory(t, m)
	if inv.Result != inventory.ResultFailed || len(inv.Entries) != 2 {
		t.Errorf("inventory: result %q, %d entries; want failed with a and guarded", inv.Result, len(inv.Entries))
	}
	remove()
	cs = mustApply(t, m, e.set(a))
	if got := actions(cs)["ConfigMap/"+e.ns+"/guarded"]; got != Pruned {
		t.Errorf("retry: guarded %s, want pruned", got)
	}
	if exists(t, e.ns, "guarded") {
		t.Error("guarded still exists after the retry")
	}
	if diff := cmp.Diff([]string{"ConfigMap/" + e.ns + "/a"}, inventoryKeys(t, e, m)); diff != "" {
		t.Errorf("inventory (-want +got):\n%s", diff)
	}
}
