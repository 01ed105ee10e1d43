package apply

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/carina-gitops/carina/apply/internal/applytest"
)

// Environment of the child process of TestKillConverges.
const (
	childEnv        = "CARINA_APPLY_TEST_CHILD" // the kubeconfig path
	childNamespace  = "CARINA_APPLY_TEST_NAMESPACE"
	childApp        = "CARINA_APPLY_TEST_APP"
	childObjects    = 500
	childObjectsPfx = "b"
)

// killSet is the set the child applies: 500 ConfigMaps b-00000...
func killSet(ns, app string) *Set {
	owner := applytest.Owner{App: app, Env: "test", Component: "web"}
	s := &Set{App: app, Env: "test", Revision: "rev-b"}
	for _, o := range owner.ConfigMaps(ns, childObjectsPfx, childObjects) {
		s.Objects = append(s.Objects, Object{Obj: o, Component: "web"})
	}
	return s
}

// runChild applies killSet until done (or killed).
func runChild() int {
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv(childEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	m, err := New(cfg, DefaultOptions())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cs, err := m.Apply(context.Background(), killSet(os.Getenv(childNamespace), os.Getenv(childApp)), DefaultApplyOptions())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(cs.Summary())
	return 0
}

// TestKillConverges applies 500 objects, then lets a child process apply
// 500 others (pruning the first) and kills it with SIGKILL at a random
// moment, twice; a last apply must converge: exactly the new objects,
// each once in the inventory, none of the old ones left.
func TestKillConverges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	first := &Set{App: e.app, Env: e.env, Revision: "rev-a"}
	for _, o := range e.owner.ConfigMaps(e.ns, "a", childObjects) {
		first.Objects = append(first.Objects, Object{Obj: o, Component: "web"})
	}
	start := time.Now()
	mustApply(t, m, first)
	// The child needs about twice as long (it also prunes), plus its
	// start: kill it anywhere in that window.
	window := 2*time.Since(start) + 500*time.Millisecond
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("seed %d, window %s", seed, window)
	for round := range 2 {
		killChild(t, e, time.Duration(rng.Int64N(int64(window))), round)
		t.Logf("round %d: %s", round, census(t, e))
	}
	cs := mustApply(t, m, killSet(e.ns, e.app))
	t.Logf("converging apply: %s", cs.Summary())
	var want []string
	for i := range childObjects {
		want = append(want, fmt.Sprintf("ConfigMap/%s/%s-%05d", e.ns, childObjectsPfx, i))
	}
	got := inventoryKeys(t, e, m)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("inventory (-want +got):\n%s", diff)
	}
	list, err := testClient.CoreV1().ConfigMaps(e.ns).List(t.Context(), listAll)
	if err != nil {
		t.Fatal(err)
	}
	var live []string
	for _, cm := range list.Items {
		if cm.DeletionTimestamp == nil && cm.Labels[LabelApp] == e.app {
			live = append(live, "ConfigMap/"+e.ns+"/"+cm.Name)
		}
	}
	slices.Sort(live)
	if diff := cmp.Diff(want, live); diff != "" {
		t.Errorf("live objects (-want +got):\n%s", diff)
	}
}

// killChild starts the child and kills it after delay.
func killChild(t *testing.T, e *env, delay time.Duration, round int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+testCluster.Kubeconfig(), childNamespace+"="+e.ns, childApp+"="+e.app)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Logf("round %d: child finished before the kill at %s: %v %s", round, delay, err, out.String())
	case <-time.After(delay):
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-done
		t.Logf("round %d: killed after %s", round, delay)
	}
}

// census counts the live old (a-) and new (b-) objects and the
// inventory's entries.
func census(t *testing.T, e *env) string {
	t.Helper()
	list, err := testClient.CoreV1().ConfigMaps(e.ns).List(t.Context(), listAll)
	if err != nil {
		t.Fatal(err)
	}
	n := map[byte]int{}
	for _, cm := range list.Items {
		if cm.DeletionTimestamp == nil && cm.Labels[LabelApp] == e.app {
			n[cm.Name[0]]++
		}
	}
	inv, err := testManager(t).ReadInventory(t.Context(), e.app, e.env)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d old and %d new objects live, inventory %s with %d entries", n['a'], n['b'], inv.Result, len(inv.Entries))
}
