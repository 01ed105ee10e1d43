package apply

import (
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/carina-gitops/carina/apply/inventory"
)

func (e *env) secret(name string, stringData map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata":   map[string]any{"name": name, "namespace": e.ns, "labels": map[string]any{LabelApp: e.app, LabelEnv: e.env, LabelComponent: "web"}},
		"type":       "Opaque",
		"stringData": stringData,
		"data":       map[string]any{"b": "YmVl"},
	}}
}

// TestWithheldSetIsNeverWritten: the copy of a set kept after its apply
// has no Secret value left, the applied set is not changed, and Apply
// and Correct refuse its Secret instead of writing it without its data
// (which would empty the live Secret); the other objects correct as
// usual.
func TestWithheldSetIsNeverWritten(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	const canary = "withheld-canary-8c1f"
	s := e.set(e.secret("db", map[string]any{"password": canary}), e.owner.ConfigMap(e.ns, "cfg", map[string]string{"v": "git"}))
	mustApply(t, m, s)

	kept := s.WithoutSecretValues()
	if !kept.Withheld() || s.Withheld() {
		t.Fatalf("Withheld: kept %v, applied %v", kept.Withheld(), s.Withheld())
	}
	for _, o := range kept.Objects {
		b, _ := o.Obj.MarshalJSON()
		if strings.Contains(string(b), canary) || strings.Contains(string(b), "YmVl") {
			t.Errorf("the kept set holds a Secret value: %s", b)
		}
	}
	if s.Objects[0].Obj.Object["stringData"] == nil || kept.Objects[1].Obj != s.Objects[1].Obj {
		t.Error("WithoutSecretValues changed the applied set or copied what it need not")
	}

	if _, err := m.Apply(t.Context(), kept, DefaultApplyOptions()); !errors.Is(err, ErrWithheld) {
		t.Errorf("Apply of a withheld set: %v, want ErrWithheld", err)
	}
	n := len(auditEvents(t))
	cs, err := m.Correct(t.Context(), kept, []ID{inventory.IDOf(kept.Objects[0].Obj), inventory.IDOf(kept.Objects[1].Obj)})
	if !errors.Is(err, ErrWithheld) {
		t.Errorf("Correct of a withheld Secret: %v, want ErrWithheld", err)
	}
	if got := actions(cs); got[inventory.IDOf(kept.Objects[0].Obj).String()] != Failed || got[inventory.IDOf(kept.Objects[1].Obj).String()] != Unchanged {
		t.Errorf("Correct actions %v: want the Secret failed and the ConfigMap unchanged", got)
	}
	if w := e.writesSince(t, n); len(w) != 0 {
		t.Errorf("writes of a withheld set: %v", w)
	}
	live, err := testClient.CoreV1().Secrets(e.ns).Get(t.Context(), "db", metav1.GetOptions{})
	if err != nil || string(live.Data["password"]) != canary {
		t.Errorf("the live Secret changed: %v %v", live.Data, err)
	}
}
