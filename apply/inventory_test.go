package apply

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carina-gitops/carina/apply/inventory"
)

// TestInventoryTenThousand stores an inventory of 10,000 objects in the
// real API server (which refuses ConfigMaps over 1 MiB and etcd values
// over 1.5 MiB) and reads it back.
func TestInventoryTenThousand(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	inv := &inventory.Inventory{
		App: e.app, Env: e.env, Revision: "0123456789abcdef0123456789abcdef01234567", Digest: "sha256:abc",
		Result: inventory.ResultSuccess, Health: "Current", Time: time.Now().UTC().Truncate(time.Second),
		Extra: map[string]string{"workflow.step": "deploy"},
	}
	kinds := []ID{{Kind: "ConfigMap"}, {Group: "apps", Kind: "Deployment"}, {Kind: "Service"}, {Group: "networking.k8s.io", Kind: "Ingress"}}
	for i := range 10000 {
		id := kinds[i%len(kinds)]
		id.Namespace = fmt.Sprintf("team-%02d-production", i%50)
		id.Name = fmt.Sprintf("checkout-%s-component-%05d", []string{"api", "worker", "frontend"}[i%3], i)
		inv.Entries = append(inv.Entries, inventory.Entry{ID: id, Orphan: i%9 == 0})
	}
	inv.Normalize()
	if err := m.writeInventory(t.Context(), inv); err != nil {
		t.Fatal(err)
	}
	got, err := m.ReadInventory(t.Context(), e.app, e.env)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(inv, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	cm, err := testClient.CoreV1().ConfigMaps(DefaultOptions().InventoryNamespace).Get(t.Context(), inventory.Name(e.app, e.env), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	size := 0
	for k, v := range cm.Data {
		size += len(k) + len(v)
	}
	for k, v := range cm.BinaryData {
		size += len(k) + len(v)
	}
	t.Logf("10,000 objects: ConfigMap data of %d bytes", size)
}
