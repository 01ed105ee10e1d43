package apply

import (
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/carina-gitops/carina/apply/inventory"
)

// TestCorrectUndoesAnEditAndRecreatesADeletion: an edit by another
// manager (as `kubectl edit` makes) and a deletion are seen by
// WouldChange, and Correct puts both back with one write each, while the
// untouched object and the inventory get no write.
func TestCorrectUndoesAnEditAndRecreatesADeletion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	s := e.set(
		e.owner.ConfigMap(e.ns, "edited", map[string]string{"v": "git"}),
		e.owner.ConfigMap(e.ns, "deleted", map[string]string{"v": "git"}),
		e.owner.ConfigMap(e.ns, "calm", map[string]string{"v": "git"}),
	)
	mustApply(t, m, s)
	ctx := t.Context()
	for i, o := range s.Objects {
		live, err := m.Live(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if !m.Unchanged(o, live) {
			t.Errorf("object %d: not provably unchanged right after apply", i)
		}
	}

	// An edit: an Update by another manager takes the field.
	cm := getConfigMap(t, e.ns, "edited")
	cm.Data["v"] = "edited"
	if _, err := testClient.CoreV1().ConfigMaps(e.ns).Update(ctx, cm, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	if err := testClient.CoreV1().ConfigMaps(e.ns).Delete(ctx, "deleted", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// A label another manager adds is not ours: no change.
	calm := []byte(`{"metadata":{"labels":{"team":"blue"}}}`)
	if _, err := testClient.CoreV1().ConfigMaps(e.ns).Patch(ctx, "calm", types.MergePatchType, calm, metav1.PatchOptions{FieldManager: "kubectl-label"}); err != nil {
		t.Fatal(err)
	}
	want := []bool{true, true, false}
	for i, o := range s.Objects {
		live, err := m.Live(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.WouldChange(ctx, o, live)
		if err != nil || got != want[i] {
			t.Errorf("%s: WouldChange = %v, %v; want %v", o.Obj.GetName(), got, err, want[i])
		}
	}

	// A plain Apply without Force fails on the edited field.
	if _, err := m.Apply(ctx, s, DefaultApplyOptions()); !errors.Is(err, ErrConflict) {
		t.Errorf("apply without force after an edit: %v, want a conflict", err)
	}
	n := len(auditEvents(t))
	cs, err := m.Correct(ctx, s, []ID{inventory.IDOf(s.Objects[0].Obj), inventory.IDOf(s.Objects[1].Obj), inventory.IDOf(s.Objects[2].Obj)})
	if err != nil {
		t.Fatal(err)
	}
	got := actions(cs)
	wantActions := map[string]Action{
		"ConfigMap/" + e.ns + "/edited":  Configured,
		"ConfigMap/" + e.ns + "/deleted": Created,
		"ConfigMap/" + e.ns + "/calm":    Unchanged,
	}
	for k, v := range wantActions {
		if got[k] != v {
			t.Errorf("%s: %s, want %s", k, got[k], v)
		}
	}
	if d := getConfigMap(t, e.ns, "edited").Data["v"]; d != "git" {
		t.Errorf("edited = %q after Correct, want git", d)
	}
	if d := getConfigMap(t, e.ns, "deleted").Data["v"]; d != "git" {
		t.Errorf("deleted = %q after Correct, want git", d)
	}
	if l := getConfigMap(t, e.ns, "calm").Labels["team"]; l != "blue" {
		t.Errorf("another manager's label was removed: %q", l)
	}
	if w := e.writesSince(t, n); len(w) != 2 {
		t.Errorf("Correct wrote %d times, want 2 (edited, deleted): %v", len(w), w)
	}
	// Now an Apply without force proves everything unchanged again.
	cs = mustApply(t, m, s)
	if cs.Changed() {
		t.Errorf("apply after Correct changed: %s", cs.Summary())
	}
}

// TestIgnoreFieldsAreNotDrift: a field the drift policy ignores may
// change without WouldChange seeing it.
func TestIgnoreFieldsAreNotDrift(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	s := e.set(e.owner.ConfigMap(e.ns, "tuned", map[string]string{"size": "1", "mode": "a"}))
	s.Objects[0].Policies.Drift.IgnoreFields = []string{"data.size"}
	mustApply(t, m, s)
	otherApply(t, e.ns, "tuned", "autoscaler", map[string]string{"size": "9"}, true)
	live, err := m.Live(t.Context(), s.Objects[0])
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := m.WouldChange(t.Context(), s.Objects[0], live); err != nil || changed {
		t.Errorf("WouldChange with an ignored field changed = %v, %v; want false", changed, err)
	}
	otherApply(t, e.ns, "tuned", "someone", map[string]string{"mode": "b"}, true)
	live, err = m.Live(t.Context(), s.Objects[0])
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := m.WouldChange(t.Context(), s.Objects[0], live); err != nil || !changed {
		t.Errorf("WouldChange with a watched field changed = %v, %v; want true", changed, err)
	}
}
