package drift

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/carina-gitops/carina/apply"
)

// TestWatcherFindsEditsAndDeletionsOnly: an edit of a field Carina sets
// and a deletion are findings; a label another manager adds, status
// changes by the controllers and an object whose policy ignores drift are
// not, and cost no request beyond the watches. A correction resolves
// both findings.
func TestWatcherFindsEditsAndDeletionsOnly(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	s := f.set(
		f.configMap("edited", map[string]any{"v": "git"}),
		f.configMap("deleted", map[string]any{"v": "git"}),
		f.configMap("calm", map[string]any{"v": "git"}),
		f.configMap("free", map[string]any{"v": "git"}),
		f.deployment("web", 2),
	)
	s.Objects[3].Policies.Drift.Mode = apply.DriftIgnore
	f.applyAndTrack(t, s)
	cms := testClient.CoreV1().ConfigMaps(f.ns)

	// Not drift: kwok runs the pods and the controllers update the
	// Deployment's status; someone labels an object; an ignored object
	// changes.
	n := auditCount(t)
	label := []byte(`{"metadata":{"labels":{"team":"blue"}}}`)
	if _, err := cms.Patch(ctx, "calm", types.MergePatchType, label, metav1.PatchOptions{FieldManager: "kubectl-label"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Patch(ctx, "free", types.MergePatchType, []byte(`{"data":{"v":"mine"}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	f.quiet(t, 3*time.Second)
	if got := requestsSince(t, n); len(got) != 0 {
		t.Errorf("requests for changes that are not drift: %v", got)
	}

	// Drift: an edit, as kubectl edit makes it, and a deletion.
	cm, err := cms.Get(ctx, "edited", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["v"] = "edited"
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "deleted", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got := map[string]Reason{}
	for range 2 {
		fd := f.next(t, 10*time.Second)
		if fd.App != f.app || fd.Env != f.env || fd.Cluster != "local" || fd.Mode != apply.DriftCorrect || fd.Component != "cfg" {
			t.Errorf("finding %+v", fd)
		}
		got[fd.ID.Name] = fd.Reason
	}
	if got["edited"] != Modified || got["deleted"] != Deleted {
		t.Fatalf("findings %v, want edited modified and deleted deleted", got)
	}

	// The correction resolves both.
	ids := []apply.ID{idOf(s, 0), idOf(s, 1)}
	if _, err := f.m.Correct(ctx, s, ids); err != nil {
		t.Fatal(err)
	}
	got = map[string]Reason{}
	for range 2 {
		fd := f.next(t, 10*time.Second)
		got[fd.ID.Name] = fd.Reason
	}
	if got["edited"] != Resolved || got["deleted"] != Resolved {
		t.Errorf("after the correction %v, want both resolved", got)
	}
	f.quiet(t, time.Second)
}

// TestPausedIntentHoldsFindings: while an apply changes the objects,
// nothing is reported; after Track the new intent judges them, and a
// report-mode object says so in its finding.
func TestPausedIntentHoldsFindings(t *testing.T) {
	f := newFixture(t)
	s1 := f.set(f.configMap("a", map[string]any{"v": "1"}), f.configMap("b", map[string]any{"v": "1"}))
	f.applyAndTrack(t, s1)
	s2 := f.set(f.configMap("a", map[string]any{"v": "2"}), f.configMap("b", map[string]any{"v": "2"}))
	s2.Objects[1].Policies.Drift.Mode = apply.DriftReport
	f.applyAndTrack(t, s2)
	f.quiet(t, 2*time.Second)

	cms := testClient.CoreV1().ConfigMaps(f.ns)
	if _, err := cms.Patch(t.Context(), "b", types.MergePatchType, []byte(`{"data":{"v":"3"}}`), metav1.PatchOptions{FieldManager: "kubectl-patch"}); err != nil {
		t.Fatal(err)
	}
	fd := f.next(t, 10*time.Second)
	if fd.ID.Name != "b" || fd.Reason != Modified || fd.Mode != apply.DriftReport {
		t.Errorf("finding %+v, want b modified in report mode", fd)
	}
	// Forget: no more findings for the app.
	f.w.Forget(f.app, f.env)
	if err := cms.Delete(t.Context(), "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.quiet(t, 2*time.Second)
}

// TestRelabelledObjectIsDrift: an object whose Carina labels someone
// removed leaves the watch's selector; it still exists, so it is
// modified, not deleted.
func TestRelabelledObjectIsDrift(t *testing.T) {
	f := newFixture(t)
	s := f.set(f.configMap("tagged", map[string]any{"v": "1"}))
	f.applyAndTrack(t, s)
	patch := []byte(`{"metadata":{"labels":{"app.carina.dev/name":null}}}`)
	if _, err := testClient.CoreV1().ConfigMaps(f.ns).Patch(t.Context(), "tagged", types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	fd := f.next(t, 10*time.Second)
	if fd.ID.Name != "tagged" || fd.Reason != Modified {
		t.Errorf("finding %+v, want tagged modified", fd)
	}
}

// countingComparer counts the confirmations that reach it.
type countingComparer struct {
	Comparer
	live, wouldChange atomic.Int32
}

func (c *countingComparer) Live(ctx context.Context, obj apply.Object) (*unstructured.Unstructured, error) {
	c.live.Add(1)
	return c.Comparer.Live(ctx, obj)
}

func (c *countingComparer) WouldChange(ctx context.Context, obj apply.Object, live *unstructured.Unstructured) (bool, error) {
	c.wouldChange.Add(1)
	return c.Comparer.WouldChange(ctx, obj, live)
}

// TestTrackConfirmsAsTheIntentsComparer: the objects of an intent
// tracked with its own Comparer (a tenant's Manager, in the agent) are
// confirmed through it, not through the Watcher's.
func TestTrackConfirmsAsTheIntentsComparer(t *testing.T) {
	f := newFixture(t)
	s := f.set(f.configMap("edited", map[string]any{"v": "git"}), f.configMap("deleted", map[string]any{"v": "git"}))
	f.w.Pause(s.App, s.Env)
	opts := apply.DefaultApplyOptions()
	opts.Force = true
	if _, err := f.m.Apply(t.Context(), s, opts); err != nil {
		t.Fatal(err)
	}
	tenant := &countingComparer{Comparer: f.m}
	if err := f.w.Track(s, tenant); err != nil {
		t.Fatal(err)
	}
	cms := testClient.CoreV1().ConfigMaps(f.ns)
	if _, err := cms.Patch(t.Context(), "edited", types.MergePatchType, []byte(`{"data":{"v":"edited"}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(t.Context(), "deleted", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got := map[string]Reason{}
	for range 2 {
		fd := f.next(t, 10*time.Second)
		got[fd.ID.Name] = fd.Reason
	}
	if got["edited"] != Modified || got["deleted"] != Deleted {
		t.Errorf("findings %v, want edited modified and deleted deleted", got)
	}
	if tenant.live.Load() == 0 || tenant.wouldChange.Load() == 0 {
		t.Errorf("the intent's comparer confirmed %d GETs and %d dry-runs, want both", tenant.live.Load(), tenant.wouldChange.Load())
	}
}

func idOf(s *apply.Set, i int) apply.ID {
	o := s.Objects[i].Obj
	gvk := o.GroupVersionKind()
	return apply.ID{Group: gvk.Group, Kind: gvk.Kind, Namespace: o.GetNamespace(), Name: o.GetName()}
}
