package apply

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carina-gitops/carina/apply/inventory"
)

// TestListInventories lists more inventories than one page holds, next
// to a corrupt inventory ConfigMap (reported, left out) and a ConfigMap
// that is no inventory (ignored), in the real API server. Other tests
// write inventories at the same time: only this test's app is compared.
func TestListInventories(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	ns := DefaultOptions().InventoryNamespace
	var want []string
	for i := range inventoryPageSize + 5 {
		inv := &inventory.Inventory{
			App: e.app, Env: fmt.Sprintf("env-%03d", i), Revision: "rev1", Result: inventory.ResultSuccess,
			Time:    time.Now().UTC().Truncate(time.Second),
			Entries: []inventory.Entry{{ID: ID{Kind: "ConfigMap", Namespace: e.ns, Name: "web"}}},
			Extra:   map[string]string{"carina.source": "apps"},
		}
		if err := m.writeInventory(t.Context(), inv); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("%s/%s source=apps objects=1", inv.App, inv.Env))
	}
	corrupt := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: inventory.Name(e.app, "corrupt"), Namespace: ns, Labels: map[string]string{
			inventory.LabelManagedBy: "carina", inventory.LabelInvApp: e.app, inventory.LabelInvEnv: "corrupt",
		}},
		Data: map[string]string{"app": e.app, "env": "corrupt", "time": "yesterday"},
	}
	plain := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: e.app + "-plain", Namespace: ns,
		Labels: map[string]string{inventory.LabelManagedBy: "carina"}}, Data: map[string]string{"app": e.app, "env": "plain"}}
	for _, cm := range []*corev1.ConfigMap{corrupt, plain} {
		if _, err := testClient.CoreV1().ConfigMaps(ns).Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = testClient.CoreV1().ConfigMaps(ns).Delete(t.Context(), cm.Name, metav1.DeleteOptions{})
		})
	}

	invs, err := m.ListInventories(t.Context())
	if err == nil || !strings.Contains(err.Error(), "ConfigMap/"+ns+"/"+corrupt.Name+": ") || !strings.Contains(err.Error(), "time:") ||
		!errors.Is(err, inventory.ErrCorrupt) {
		t.Errorf("error = %v, want the corrupt inventory named", err)
	}
	var got []string
	for _, inv := range invs {
		if inv.App == e.app {
			got = append(got, fmt.Sprintf("%s/%s source=%s objects=%d", inv.App, inv.Env, inv.Extra["carina.source"], len(inv.Entries)))
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("listed inventories (-want +got):\n%s", diff)
	}
}
