package apply

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/carina-gitops/carina/apply/internal/applytest"
)

var (
	crdGVR             = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	resourceTrackerGVR = schema.GroupVersionResource{Group: "core.oam.dev", Version: "v1beta1", Resource: "resourcetrackers"}
	deploymentGVR      = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

// resourceTracker installs KubeVela's ResourceTracker CRD (from KubeVela's
// chart, ../shared/kubevela/crds) once and creates a tracker for the
// test, as KubeVela's controller would for an Application.
func resourceTracker(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "shared", "kubevela", "crds", "core.oam.dev_resourcetrackers.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crd := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &crd.Object); err != nil {
		t.Fatal(err)
	}
	crd.SetResourceVersion("")
	if _, err := dyn(t).Resource(crdGVR).Apply(t.Context(), crd.GetName(), crd, metav1.ApplyOptions{FieldManager: "kubevela-chart", Force: true}); err != nil {
		t.Fatalf("install the ResourceTracker CRD: %v", err)
	}
	rt := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "core.oam.dev/v1beta1", "kind": "ResourceTracker",
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"applicationGeneration": int64(1), "type": "versioned"},
	}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := dyn(t).Resource(resourceTrackerGVR).Create(t.Context(), rt, createOpts)
		if err == nil {
			t.Cleanup(func() { _ = dyn(t).Resource(resourceTrackerGVR).Delete(t.Context(), name, metav1.DeleteOptions{}) })
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("create ResourceTracker: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// kubevelaDeployment is web as KubeVela's webservice applies it: its
// labels, the app.oam.dev/component selector, field manager kubevela and
// an owner reference to the app's ResourceTracker.
func kubevelaDeployment(ns, app string, rt *unstructured.Unstructured) *unstructured.Unstructured {
	d := carinaDeployment(ns, app, nil)
	d.SetLabels(map[string]string{
		"app.oam.dev/name": app, "app.oam.dev/component": "web", "app.oam.dev/namespace": ns,
		"app.oam.dev/appRevision": app + "-v1", "app.oam.dev/resourceType": "WORKLOAD", "workload.oam.dev/type": "webservice",
	})
	d.SetAnnotations(map[string]string{"oam.dev/kubevela-version": "v1.10.0"})
	d.SetOwnerReferences([]metav1.OwnerReference{{
		APIVersion: "core.oam.dev/v1beta1", Kind: "ResourceTracker", Name: rt.GetName(), UID: rt.GetUID(),
		Controller: ptr(true), BlockOwnerDeletion: ptr(true),
	}})
	return d
}

// carinaDeployment is web as Carina's webservice renders it.
func carinaDeployment(ns, app string, labels map[string]any) *unstructured.Unstructured {
	meta := map[string]any{"name": "web", "namespace": ns}
	if labels != nil {
		meta["labels"] = labels
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
		"spec": map[string]any{
			"selector": map[string]any{"matchLabels": map[string]any{"app.oam.dev/component": "web"}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app.oam.dev/name": app, "app.oam.dev/component": "web"}},
				"spec": map[string]any{"containers": []any{map[string]any{
					"name": "web", "image": "registry.example/web:1",
					"ports": []any{map[string]any{"containerPort": int64(8080), "name": "port-8080", "protocol": "TCP"}},
				}}},
			},
		},
	}}
}

// TestAdoptFromKubeVela: the first apply takes over a Deployment that
// KubeVela applied for the application of the same name. It keeps the UID
// and the selector; the ResourceTracker owner reference and KubeVela's
// field manager and labels are gone; the audit log shows patches only.
func TestAdoptFromKubeVela(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	rt := resourceTracker(t, e.app+"-v1-"+e.ns)
	live, err := dyn(t).Resource(deploymentGVR).Namespace(e.ns).Create(t.Context(), kubevelaDeployment(e.ns, e.app, rt), metav1.CreateOptions{FieldManager: KubeVelaFieldManager})
	if err != nil {
		t.Fatal(err)
	}
	mark := len(auditEvents(t))
	cs := mustApply(t, m, e.set(carinaDeployment(e.ns, e.app, applytest.Labels(e.app, e.env, "web"))))
	if got := cs.Entries[0]; got.Action != Configured || got.Reason != ReasonAdopted {
		t.Errorf("entry = %v, want configured: %s", got, ReasonAdopted)
	}
	after, err := dyn(t).Resource(deploymentGVR).Namespace(e.ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.GetUID() != live.GetUID() {
		t.Errorf("UID %s, want %s: the Deployment was re-created", after.GetUID(), live.GetUID())
	}
	sel, _, _ := unstructured.NestedStringMap(after.Object, "spec", "selector", "matchLabels")
	if len(sel) != 1 || sel["app.oam.dev/component"] != "web" {
		t.Errorf("selector = %v, want the one KubeVela set", sel)
	}
	if refs := after.GetOwnerReferences(); len(refs) != 0 {
		t.Errorf("owner references = %v, want none", refs)
	}
	for _, mf := range after.GetManagedFields() {
		if mf.Manager == KubeVelaFieldManager {
			t.Errorf("field manager %s still owns %s", mf.Manager, mf.FieldsV1)
		}
	}
	labels := after.GetLabels()
	if labels[LabelApp] != e.app || labels["app.oam.dev/name"] != "" || labels["workload.oam.dev/type"] != "" {
		t.Errorf("labels = %v, want Carina's and none of KubeVela's", labels)
	}
	var verbs []string
	for _, ev := range e.writesSince(t, mark) {
		if ev.ObjectRef != nil && ev.ObjectRef.Resource == "deployments" {
			verbs = append(verbs, ev.Verb)
		}
	}
	if len(verbs) == 0 || slices.Contains(verbs, "create") || slices.Contains(verbs, "delete") {
		t.Errorf("writes to the Deployment = %v, want patches only", verbs)
	}
	// Carina's own now: the next apply changes nothing.
	if cs := mustApply(t, m, e.set(carinaDeployment(e.ns, e.app, applytest.Labels(e.app, e.env, "web")))); cs.Count(Unchanged) != 1 {
		t.Errorf("second apply: %v", cs.Entries)
	}
}

// TestKubeVelaObjectOfAnotherAppIsNotAdopted: an object KubeVela applied
// for another application stays foreign.
func TestKubeVelaObjectOfAnotherAppIsNotAdopted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	rt := resourceTracker(t, "other-v1-"+e.ns)
	if _, err := dyn(t).Resource(deploymentGVR).Namespace(e.ns).Create(t.Context(), kubevelaDeployment(e.ns, "other", rt), metav1.CreateOptions{FieldManager: KubeVelaFieldManager}); err != nil {
		t.Fatal(err)
	}
	_, err := m.Apply(t.Context(), e.set(carinaDeployment(e.ns, e.app, applytest.Labels(e.app, e.env, "web"))), DefaultApplyOptions())
	if !errors.Is(err, ErrNotOwned) {
		t.Fatalf("error = %v, want ErrNotOwned", err)
	}
}
