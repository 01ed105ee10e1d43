package apply

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/carina-gitops/carina/apply/inventory"
)

var (
	listAll    = metav1.ListOptions{}
	createOpts = metav1.CreateOptions{}
)

// dyn is an admin dynamic client (not the user under test).
func dyn(t testing.TB) dynamic.Interface {
	t.Helper()
	d, err := dynamic.NewForConfig(testCluster.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func countPrefix(cms []corev1.ConfigMap, prefix string) int {
	n := 0
	for _, cm := range cms {
		if strings.HasPrefix(cm.Name, prefix) {
			n++
		}
	}
	return n
}

func getConfigMap(t testing.TB, ns, name string) *corev1.ConfigMap {
	t.Helper()
	cm, err := testClient.CoreV1().ConfigMaps(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

// otherApply server-side applies data to a ConfigMap as another field
// manager.
func otherApply(t testing.TB, ns, name, manager string, data map[string]string, force bool) {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": name, "namespace": ns}, "data": data,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = testClient.CoreV1().ConfigMaps(ns).Patch(t.Context(), name, types.ApplyPatchType, body,
		metav1.PatchOptions{FieldManager: manager, Force: &force})
	if err != nil {
		t.Fatal(err)
	}
}

// getUID returns the live UID of u's object.
func getUID(t testing.TB, m *Manager, u *unstructured.Unstructured) types.UID {
	t.Helper()
	mp, err := newKindMapper(m, nil).mapping(u.GroupVersionKind())
	if err != nil {
		t.Fatal(err)
	}
	live, err := m.get(t.Context(), mp, inventory.IDOf(u))
	if err != nil || live == nil {
		t.Fatalf("get %s: %v, %v", inventory.IDOf(u), live, err)
	}
	return live.GetUID()
}

// readInventory reads e's inventory and fails the test without one.
func (e *env) readInventory(t testing.TB, m *Manager) *inventory.Inventory {
	t.Helper()
	inv, err := m.ReadInventory(t.Context(), e.app, e.env)
	if err != nil || inv == nil {
		t.Fatalf("inventory: %v, %v", inv, err)
	}
	return inv
}
