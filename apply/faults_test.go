package apply

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carina-gitops/carina/apply/internal/applytest"
	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/e2e/faultproxy"
	"github.com/carina-gitops/carina/internal/panics"
)

// proxyManager returns a Manager that reaches the API server through a
// fault proxy, which forwards as testUser (so the audit log names it).
func proxyManager(t *testing.T) (*Manager, *faultproxy.Proxy) {
	t.Helper()
	skipWithoutCluster(t)
	p, err := faultproxy.Start(testUserConfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	m, err := New(p.Config(), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return m, p
}

// TestApplyThroughAPIFaults: 429 with Retry-After, 503s, a connection
// reset before the request arrives and one after the write happened are
// all retried; every object ends up applied, and the audit log shows
// exactly one create per object.
func TestApplyThroughAPIFaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m, p := proxyManager(t)
	cms := e.owner.ConfigMaps(e.ns, "cm", 8)
	w := faultproxy.Write("configmaps")
	p.Add(faultproxy.Rule{Match: faultproxy.Name("configmaps", "cm-00000"), Action: faultproxy.TooManyRequests, RetryAfter: 1})
	p.Add(faultproxy.Rule{Match: faultproxy.Name("configmaps", "cm-00001"), Action: faultproxy.Unavailable, Times: 2})
	p.Add(faultproxy.Rule{Match: faultproxy.Name("configmaps", "cm-00002"), Action: faultproxy.Reset})
	p.Add(faultproxy.Rule{Match: faultproxy.Name("configmaps", "cm-00003"), Action: faultproxy.ResetAfterForward})
	p.Add(faultproxy.Rule{Match: func(r *http.Request) bool {
		return w(r) && strings.Contains(r.URL.Path, "/configmaps/"+inventoryName(e.app, e.env))
	}, Action: faultproxy.Unavailable})
	start := len(auditEvents(t))
	cs, err := m.Apply(t.Context(), e.set(cms...), DefaultApplyOptions())
	if err != nil {
		t.Fatalf("apply through faults: %v", err)
	}
	if got := len(p.Injected()); got != 6 {
		t.Errorf("faults injected = %d, want 6: %+v", got, p.Injected())
	}
	for _, en := range cs.Entries {
		if en.Action != Created {
			t.Errorf("%s: %s, want created", en.ID, en.Action)
		}
	}
	creates := map[string]int{}
	for _, ev := range e.writesSince(t, start) {
		if ev.ObjectRef.Resource == "configmaps" && ev.ResponseStatus != nil && ev.ResponseStatus.Code == 201 {
			creates[ev.ObjectRef.Name]++
		}
	}
	for _, cm := range cms {
		if n := creates[cm.GetName()]; n != 1 {
			t.Errorf("%s created %d times, want once", cm.GetName(), n)
		}
		if !exists(t, e.ns, cm.GetName()) {
			t.Errorf("%s missing", cm.GetName())
		}
	}
}

// TestForceNeverStealsANewObject: Git wins over another manager only on
// this app's objects. An object that someone else creates while Carina's
// write of it is in flight (held by the proxy) keeps its owner's fields:
// the forced apply fails with a conflict instead of taking them.
func TestForceNeverStealsANewObject(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m, p := proxyManager(t)
	held, release := make(chan struct{}), make(chan struct{})
	p.Add(faultproxy.Rule{Match: faultproxy.Name("configmaps", "late"), Action: faultproxy.Hold, Held: held, Release: release})
	done := make(chan error, 1)
	go func() {
		_, err := m.Apply(t.Context(), e.set(e.owner.ConfigMap(e.ns, "late", map[string]string{"v": "git"})), ApplyOptions{Force: true})
		done <- err
	}()
	<-held
	otherApply(t, e.ns, "late", "someone-else", map[string]string{"v": "theirs"}, false)
	close(release)
	if err := <-done; !errors.Is(err, ErrConflict) {
		t.Fatalf("forced apply of an object created meanwhile: %v, want ErrConflict", err)
	}
	cm := getConfigMap(t, e.ns, "late")
	if cm.Data["v"] != "theirs" || cm.Labels[LabelApp] != "" {
		t.Errorf("the other manager's object was taken: data %v labels %v", cm.Data, cm.Labels)
	}
}

// TestPanicFailsOnlyThatCall: a panic in a write (inside the parallel
// workers) and in a health check becomes an error of that call, with the
// stack; the next Apply works.
func TestPanicFailsOnlyThatCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	s := e.set(e.owner.ConfigMaps(e.ns, "cm", 3)...)
	m.hook = func(op string, id ID) {
		if id.Name == "cm-00001" {
			panic(fmt.Sprintf("injected %s panic", op))
		}
	}
	_, err := m.Apply(t.Context(), s, DefaultApplyOptions())
	var p *panics.Error
	if !errors.As(err, &p) || !strings.Contains(p.Error(), "injected write panic") || !strings.Contains(string(p.Stack), "writeItem") {
		t.Fatalf("apply with a panicking write: %v, want a *panics.Error with the stack", err)
	}
	if _, err := m.Health(t.Context(), s); !errors.Is(err, panics.ErrPanic) {
		t.Errorf("health with a panicking check: %v, want ErrPanic", err)
	}
	m.hook = nil
	mustApply(t, m, s)
	if _, err := m.Health(t.Context(), s); err != nil {
		t.Errorf("health after the panics: %v", err)
	}
}

// TestCorruptInventoryPrunesNothing: an inventory that does not decode
// fails the apply with ErrCorrupt; no object is deleted. Rebuilding it
// from the labelled objects lets the next apply prune as usual.
func TestCorruptInventoryPrunesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	cm := func(name string) ID { return ID{Kind: "ConfigMap", Namespace: e.ns, Name: name} }
	mustApply(t, m, e.set(e.owner.ConfigMaps(e.ns, "cm", 3)...))
	invNS, invName := DefaultOptions().InventoryNamespace, inventoryName(e.app, e.env)
	corrupt := getConfigMap(t, invNS, invName)
	corrupt.Data[inventory.KeyObjects] = "not an inventory line\n"
	if _, err := testClient.CoreV1().ConfigMaps(invNS).Update(t.Context(), corrupt, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := len(auditEvents(t))
	_, err := m.Apply(t.Context(), e.set(e.owner.ConfigMaps(e.ns, "cm", 1)...), DefaultApplyOptions())
	if !errors.Is(err, inventory.ErrCorrupt) || !strings.Contains(err.Error(), "--rebuild-inventory") {
		t.Fatalf("apply over a corrupt inventory: %v, want ErrCorrupt with the recovery hint", err)
	}
	if w := e.writesSince(t, start); len(w) != 0 {
		t.Errorf("writes over a corrupt inventory:\n%s", applytest.Describe(w))
	}
	ids, err := m.FindLabelled(t.Context(), e.app, e.env)
	if err != nil {
		t.Fatal(err)
	}
	if want := []ID{cm("cm-00000"), cm("cm-00001"), cm("cm-00002")}; fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("FindLabelled = %v, want %v", ids, want)
	}
	if _, err := m.RebuildInventory(t.Context(), e.app, e.env); err != nil {
		t.Fatal(err)
	}
	cs := mustApply(t, m, e.set(e.owner.ConfigMaps(e.ns, "cm", 1)...))
	got := actions(cs)
	if got["ConfigMap/"+e.ns+"/cm-00001"] != Pruned || got["ConfigMap/"+e.ns+"/cm-00002"] != Pruned {
		t.Errorf("after the rebuild: %v, want cm-1 and cm-2 pruned", got)
	}
	if _, err := m.RebuildInventory(t.Context(), e.app, e.env); err == nil {
		t.Error("RebuildInventory over a readable inventory succeeded")
	}
}

// TestFindLabelledWithoutInventory: a lost inventory is told apart from an
// app with nothing in the cluster.
func TestFindLabelledWithoutInventory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	mustApply(t, m, e.set(e.owner.Mixed(e.ns, "obj", 3)...))
	if err := testClient.CoreV1().ConfigMaps(DefaultOptions().InventoryNamespace).Delete(t.Context(), inventoryName(e.app, e.env), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	inv, err := m.ReadInventory(t.Context(), e.app, e.env)
	if inv != nil || err != nil {
		t.Fatalf("ReadInventory after the delete = %v, %v", inv, err)
	}
	ids, err := m.FindLabelled(t.Context(), e.app, e.env)
	if err != nil || len(ids) != 3 {
		t.Errorf("FindLabelled = %v, %v; want the 3 objects", ids, err)
	}
	none, err := m.FindLabelled(t.Context(), "no-such-app", e.env)
	if err != nil || len(none) != 0 {
		t.Errorf("FindLabelled of an app with nothing = %v, %v", none, err)
	}
}

// TestLostInventoryRefused: with RefuseLostInventory, an apply over a
// deleted inventory whose app still has labelled objects writes nothing
// and says how to recover; a first apply (nothing labelled) goes on, and
// without the option (carina apply) the apply adopts the objects.
func TestLostInventoryRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	refuse := DefaultApplyOptions()
	refuse.RefuseLostInventory = true
	if _, err := m.Apply(t.Context(), e.set(e.owner.ConfigMaps(e.ns, "cm", 3)...), refuse); err != nil {
		t.Fatalf("a first apply with RefuseLostInventory: %v", err)
	}
	invNS, invName := DefaultOptions().InventoryNamespace, inventoryName(e.app, e.env)
	if err := testClient.CoreV1().ConfigMaps(invNS).Delete(t.Context(), invName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	start := len(auditEvents(t))
	_, err := m.Apply(t.Context(), e.set(e.owner.ConfigMaps(e.ns, "cm", 1)...), refuse)
	if !errors.Is(err, inventory.ErrLost) || !strings.Contains(err.Error(), "--rebuild-inventory") ||
		!strings.Contains(err.Error(), "3 objects in the cluster carry the app's labels (ConfigMap/"+e.ns+"/cm-00000 among them)") {
		t.Fatalf("apply over a lost inventory: %v, want ErrLost naming the objects, with the recovery hint", err)
	}
	if w := e.writesSince(t, start); len(w) != 0 {
		t.Errorf("writes over a lost inventory:\n%s", applytest.Describe(w))
	}
	if _, err := m.RebuildInventory(t.Context(), e.app, e.env); err != nil {
		t.Fatal(err)
	}
	cs, err := m.Apply(t.Context(), e.set(e.owner.ConfigMaps(e.ns, "cm", 1)...), refuse)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(cs); got["ConfigMap/"+e.ns+"/cm-00001"] != Pruned || got["ConfigMap/"+e.ns+"/cm-00002"] != Pruned {
		t.Errorf("after the rebuild: %v, want cm-1 and cm-2 pruned", got)
	}
}
