package apply

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/carina-gitops/carina/apply/internal/applytest"
	"github.com/carina-gitops/carina/apply/inventory"
)

func TestReapplyUnchangedWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	objs := append(e.owner.Mixed(e.ns, "obj", 9), e.owner.ConfigMap(e.ns, "settings", map[string]string{"a": "1"}))
	cs := mustApply(t, m, e.set(objs...))
	if got := cs.Count(Created); got != 10 {
		t.Fatalf("first apply created %d objects, want 10: %v", got, cs.Entries)
	}
	mark := len(auditEvents(t))
	cs = mustApply(t, m, e.set(objs...))
	if got := cs.Count(Unchanged); got != 10 {
		t.Errorf("re-apply: %d unchanged, want 10: %v", got, cs.Entries)
	}
	after := applytest.Since(auditEvents(t), mark)
	if w := e.writesSince(t, mark); len(w) != 0 {
		t.Errorf("re-apply wrote %d times, want 0:\n%s", len(w), applytest.Describe(w))
	}
	var mine []auditEvent
	for _, ev := range after {
		if ev.User.Username == testUser && ev.ObjectRef != nil && (ev.ObjectRef.Namespace == e.ns || ev.ObjectRef.Name == inventoryName(e.app, e.env)) {
			mine = append(mine, ev)
		}
	}
	want := []string{"get configmaps: 1", "list configmaps: 1", "list deployments: 1", "list services: 1"}
	if diff := cmp.Diff(want, applytest.Verbs(mine)); diff != "" {
		t.Errorf("re-apply requests (-want +got):\n%s", diff)
	}
}

func TestOneChangedFieldOnePatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	objs := e.owner.Mixed(e.ns, "obj", 6)
	mustApply(t, m, e.set(objs...))
	mark := len(auditEvents(t))
	changed := make([]*unstructured.Unstructured, len(objs))
	copy(changed, objs)
	changed[0] = objs[0].DeepCopy()
	unstructured.SetNestedField(changed[0].Object, "bonjour", "data", "greeting")
	cs := mustApply(t, m, e.set(changed...))
	if diff := cmp.Diff(map[string]Action{
		"ConfigMap/" + e.ns + "/obj-00000": Configured, "Deployment/" + e.ns + "/obj-00001": Unchanged, "Service/" + e.ns + "/obj-00002": Unchanged,
		"ConfigMap/" + e.ns + "/obj-00003": Unchanged, "Deployment/" + e.ns + "/obj-00004": Unchanged, "Service/" + e.ns + "/obj-00005": Unchanged,
	}, actions(cs)); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	w := e.writesSince(t, mark)
	if len(w) != 1 || w[0].Verb != "patch" || w[0].ObjectRef.Name != "obj-00000" {
		t.Errorf("writes = %d, want one patch of obj-00000:\n%s", len(w), applytest.Describe(w))
	}
}

func TestCRDAndCustomResourceInOneCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	group := strings.ReplaceAll(e.ns, "-", "") + ".example.com"
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "widgets." + group, "labels": applytest.Labels(e.app, e.env, "defs")},
		"spec": map[string]any{
			"group": group, "scope": "Namespaced",
			"names": map[string]any{"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "properties": map[string]any{
					"spec": map[string]any{"type": "object", "properties": map[string]any{"size": map[string]any{"type": "integer"}}},
				}}}}},
		},
	}}
	cr := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": group + "/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w1", "namespace": e.ns, "labels": applytest.Labels(e.app, e.env, "web")},
		"spec":     map[string]any{"size": int64(3)},
	}}
	s := e.set(cr, crd) // the CR first: staging must reorder
	cs := mustApply(t, m, s)
	if diff := cmp.Diff(map[string]Action{"CustomResourceDefinition/widgets." + group: Created, "Widget." + group + "/" + e.ns + "/w1": Created}, actions(cs)); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	cs = mustApply(t, m, s)
	if got := cs.Count(Unchanged); got != 2 {
		t.Errorf("re-apply: %d unchanged, want 2: %v", got, cs.Entries)
	}
	// Prune the CR and the CRD: the CRD goes last.
	empty := e.set()
	empty.AllowEmpty = true
	cs = mustApply(t, m, empty)
	if got := cs.Count(Pruned); got != 2 {
		t.Errorf("prune: %d pruned, want 2: %v", got, cs.Entries)
	}
}

func TestInvalidObjectWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	objs := e.owner.Mixed(e.ns, "obj", 50)
	bad := objs[37] // a Deployment
	unstructured.SetNestedField(bad.Object, int64(-3), "spec", "replicas")
	mark := len(auditEvents(t))
	cs, err := m.Apply(t.Context(), e.set(objs...), DefaultApplyOptions())
	if err == nil {
		t.Fatal("apply of a set with an invalid object succeeded")
	}
	var se *StageError
	if !errors.As(err, &se) || se.Phase != "dry-run" || se.Failed != 1 || se.Total != 50 {
		t.Fatalf("error = %v, want a dry-run StageError with 1 of 50 failed", err)
	}
	if ref := "Deployment/" + e.ns + "/obj-00037"; !strings.Contains(err.Error(), ref) || !strings.Contains(err.Error(), "spec.replicas") {
		t.Errorf("error %q does not name %s and spec.replicas", err, ref)
	}
	if got := cs.Count(Skipped) + cs.Count(Failed); got != 50 || cs.Count(Failed) != 1 {
		t.Errorf("change set: %s", cs.Summary())
	}
	if w := e.writesSince(t, mark); len(w) != 0 {
		t.Errorf("%d writes, want 0:\n%s", len(w), applytest.Describe(w))
	}
}

func TestLabelsRequired(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	other := applytest.Owner{App: "other", Env: e.env, Component: "web"}
	unlabelled := e.owner.ConfigMap(e.ns, "bare", nil)
	unlabelled.SetLabels(nil)
	_, err := m.Apply(t.Context(), e.set(other.ConfigMap(e.ns, "x", nil), unlabelled), DefaultApplyOptions())
	if !errors.Is(err, ErrInvalidSet) {
		t.Fatalf("error = %v, want ErrInvalidSet", err)
	}
	for _, want := range []string{"ConfigMap/" + e.ns + "/x", "ConfigMap/" + e.ns + "/bare", `app.carina.dev/name="other"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestEmptySetRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	mustApply(t, m, e.set(e.owner.ConfigMaps(e.ns, "cm", 3)...))
	mark := len(auditEvents(t))
	_, err := m.Apply(t.Context(), e.set(), DefaultApplyOptions())
	if !errors.Is(err, ErrEmptySet) {
		t.Fatalf("error = %v, want ErrEmptySet", err)
	}
	if w := e.writesSince(t, mark); len(w) != 0 {
		t.Errorf("%d writes, want 0:\n%s", len(w), applytest.Describe(w))
	}
	list, err := testClient.CoreV1().ConfigMaps(e.ns).List(t.Context(), listAll)
	if err != nil {
		t.Fatal(err)
	}
	if n := countPrefix(list.Items, "cm-"); n != 3 {
		t.Errorf("%d ConfigMaps left, want 3", n)
	}
}

func TestFieldOwnedByAnotherManager(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	cm := e.owner.ConfigMap(e.ns, "shared", map[string]string{"ours": "1"})
	mustApply(t, m, e.set(cm))
	// Another manager applies a field we do not set: no conflict, kept.
	otherApply(t, e.ns, "shared", "other", map[string]string{"theirs": "x"}, false)
	mustApply(t, m, e.set(cm))
	live := getConfigMap(t, e.ns, "shared")
	if live.Data["theirs"] != "x" || live.Data["ours"] != "1" {
		t.Fatalf("data = %v, want ours=1 and theirs=x", live.Data)
	}
	// It forces a field we set: our next apply reports the conflict.
	otherApply(t, e.ns, "shared", "other", map[string]string{"theirs": "x", "ours": "2"}, true)
	_, err := m.Apply(t.Context(), e.set(cm), DefaultApplyOptions())
	var ce *ConflictError
	if !errors.Is(err, ErrConflict) || !errors.As(err, &ce) {
		t.Fatalf("error = %v, want a ConflictError", err)
	}
	if !strings.Contains(err.Error(), `"other"`) || !strings.Contains(err.Error(), ".data.ours") {
		t.Errorf("conflict %q does not name the manager and the field", err)
	}
	if got := getConfigMap(t, e.ns, "shared").Data["ours"]; got != "2" {
		t.Errorf("data.ours = %q after a refused apply, want 2", got)
	}
	// With take-over the apply forces it back.
	s := e.set(cm)
	s.Objects[0].Policies.TakeOver = true
	mustApply(t, m, s)
	if got := getConfigMap(t, e.ns, "shared").Data; got["ours"] != "1" || got["theirs"] != "x" {
		t.Errorf("data after take-over = %v, want ours=1 theirs=x", got)
	}
}

// TestImmutableField is not parallel: recreating waits for the garbage
// collector, which the prunes of parallel tests keep busy.
func TestImmutableField(t *testing.T) {
	e := newEnv(t)
	m := testManager(t)
	job := func(image string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "batch/v1", "kind": "Job",
			"metadata": map[string]any{"name": "migrate", "namespace": e.ns, "labels": applytest.Labels(e.app, e.env, "db")},
			"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
				"restartPolicy": "Never",
				"containers":    []any{map[string]any{"name": "m", "image": image}},
			}}},
		}}
	}
	mustApply(t, m, e.set(job("migrate:1")))
	uid := getUID(t, m, job("migrate:1"))
	_, err := m.Apply(t.Context(), e.set(job("migrate:2")), DefaultApplyOptions())
	var ie *ImmutableError
	if !errors.Is(err, ErrImmutable) || !errors.As(err, &ie) {
		t.Fatalf("error = %v, want an ImmutableError", err)
	}
	if !strings.Contains(err.Error(), "Job/"+e.ns+"/migrate") || !strings.Contains(err.Error(), "spec.template") {
		t.Errorf("error %q does not name the Job and spec.template", err)
	}
	s := e.set(job("migrate:2"))
	s.Objects[0].Policies.Recreate = true
	cs := mustApply(t, m, s)
	if got := cs.Entries[0]; got.Action != Configured || !strings.Contains(got.Reason, "recreated") {
		t.Errorf("entry = %v, want configured: recreated", got)
	}
	if getUID(t, m, job("migrate:2")) == uid {
		t.Error("the Job has the same UID: it was not recreated")
	}
}

func TestTakeOverUnlabelled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	foreign := e.owner.ConfigMap(e.ns, "existing", map[string]string{"a": "0"})
	foreign.SetLabels(nil)
	if _, err := dyn(t).Resource(configMapGVR).Namespace(e.ns).Create(t.Context(), foreign, createOpts); err != nil {
		t.Fatal(err)
	}
	want := e.owner.ConfigMap(e.ns, "existing", map[string]string{"a": "1"})
	_, err := m.Apply(t.Context(), e.set(want), DefaultApplyOptions())
	var oe *OwnershipError
	if !errors.Is(err, ErrNotOwned) || !errors.As(err, &oe) {
		t.Fatalf("error = %v, want an OwnershipError", err)
	}
	if got := getConfigMap(t, e.ns, "existing").Data["a"]; got != "0" {
		t.Errorf("data.a = %q, want the untouched 0", got)
	}
	s := e.set(want)
	s.Objects[0].Policies.TakeOver = true
	cs := mustApply(t, m, s)
	if got := cs.Entries[0]; got.Action != Configured || got.Reason != "taken over" {
		t.Errorf("entry = %v, want configured: taken over", got)
	}
	if got := getConfigMap(t, e.ns, "existing").Data["a"]; got != "1" {
		t.Errorf("data.a = %q after take-over, want 1", got)
	}
}

func TestCreatesMissingNamespace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	ns := e.ns + "-new"
	s := e.set(e.owner.ConfigMap(ns, "a", nil), e.owner.Deployment(ns, "web", 0, nil))
	objs, err := m.Diff(t.Context(), s, DiffOptions{})
	if err != nil {
		t.Fatalf("diff into a missing namespace: %v", err)
	}
	for _, o := range objs {
		if o.Action != "create" {
			t.Errorf("diff %s: %s, want create", o.Ref, o.Action)
		}
	}
	cs := mustApply(t, m, s)
	if cs.Count(Created) != 2 {
		t.Errorf("apply: %v", cs.Entries)
	}
	got, err := testClient.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Labels[inventory.LabelManagedBy] != "carina" {
		t.Errorf("namespace labels %v", got.Labels)
	}
	if keys := inventoryKeys(t, e, m); len(keys) != 2 {
		t.Errorf("inventory %v: the namespace must not be in it", keys)
	}
}

func TestUnknownFieldRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	dep := e.owner.Deployment(e.ns, "web", 1, nil)
	unstructured.SetNestedField(dep.Object, int64(2), "spec", "replicaz")
	_, err := m.Apply(t.Context(), e.set(e.owner.ConfigMap(e.ns, "ok", nil), dep), DefaultApplyOptions())
	if err == nil || !strings.Contains(err.Error(), "Deployment/"+e.ns+"/web") || !strings.Contains(err.Error(), "replicaz") {
		t.Fatalf("error = %v, want one naming the Deployment and the unknown field", err)
	}
	if exists(t, e.ns, "ok") {
		t.Error("the valid object of the stage was written")
	}
}
