package drift

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/carina-gitops/carina/apply"
)

func (f *fixture) secret(name string, stringData, data map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": name, "namespace": f.ns, "labels": f.labels("db"),
			"annotations": map[string]any{"owner": "git"}},
		"type":       "Opaque",
		"stringData": stringData,
		"data":       data,
	}}
}

// stateHolding returns where the Watcher's drift state (its intents,
// pending and latest observations, and reports) holds one of needles:
// every string and byte slice reachable from it is searched, the
// Comparers (the apply engine and its clients) aside.
func stateHolding(w *Watcher, needles ...string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var found []string
	seen := map[uintptr]bool{}
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Map:
			if v.IsNil() || seen[v.Pointer()] {
				return
			}
			seen[v.Pointer()] = true
			if v.Kind() == reflect.Pointer {
				walk(path, v.Elem())
				return
			}
			for it := v.MapRange(); it.Next(); {
				walk(path+"[key]", it.Key())
				walk(fmt.Sprintf("%s[%v]", path, it.Key()), it.Value())
			}
		case reflect.Interface:
			if !v.IsNil() && !v.Type().Implements(reflect.TypeFor[Comparer]()) {
				walk(path, v.Elem())
			}
		case reflect.Struct:
			for i := range v.NumField() {
				if v.Type().Field(i).Type != reflect.TypeFor[Comparer]() {
					walk(path+"."+v.Type().Field(i).Name, v.Field(i))
				}
			}
		case reflect.Slice, reflect.Array:
			if v.Type().Elem().Kind() == reflect.Uint8 && v.Kind() == reflect.Slice {
				for _, n := range needles {
					if strings.Contains(string(v.Bytes()), n) {
						found = append(found, path)
					}
				}
				return
			}
			for i := range v.Len() {
				walk(fmt.Sprintf("%s[%d]", path, i), v.Index(i))
			}
		case reflect.String:
			for _, n := range needles {
				if strings.Contains(v.String(), n) {
					found = append(found, path)
				}
			}
		}
	}
	walk("intents", reflect.ValueOf(w.intents))
	walk("latest", reflect.ValueOf(w.latest))
	walk("reported", reflect.ValueOf(w.reported))
	return found
}

// forms are a value as a Secret's stringData and data hold it.
func forms(vals ...string) []string {
	var out []string
	for _, v := range vals {
		out = append(out, v, base64.StdEncoding.EncodeToString([]byte(v)))
	}
	return out
}

// TestSecretDriftStateHoldsNoValue: the drift state of a tracked Secret
// holds none of its values (stringData or data, plain or base64), nor
// the values of the live Secret after an edit, also while an apply holds
// the findings. An edited value is found by hash and named by key; an
// edited annotation is found without a key; a key the policy ignores and
// a label another manager adds are not drift, and cost no request; a
// correction resolves it.
func TestSecretDriftStateHoldsNoValue(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	const pw, user, rotated = "drift-canary-pw-41d9", "drift-canary-user-77a0", "drift-canary-rot-0b3e"
	sec := f.secret("db", map[string]any{"password": pw}, map[string]any{
		"user": base64.StdEncoding.EncodeToString([]byte(user)), "rotated": base64.StdEncoding.EncodeToString([]byte(rotated))})
	s := f.set(sec, f.configMap("cfg", map[string]any{"v": "git"}))
	s.Objects[0].Policies.Drift.IgnoreFields = []string{"data.rotated"}
	f.applyAndTrack(t, s)
	if got := stateHolding(f.w, forms(pw, user, rotated)...); len(got) > 0 {
		t.Fatalf("the drift state holds a Secret value at %v", got)
	}
	if got := stateHolding(f.w, "owner", "Opaque"); len(got) == 0 {
		t.Fatal("the search finds not even the Secret's other fields: it proves nothing")
	}

	secrets := testClient.CoreV1().Secrets(f.ns)
	edit := func(fn func(*corev1.Secret)) {
		t.Helper()
		live, err := secrets.Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fn(live)
		if _, err := secrets.Update(ctx, live, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
			t.Fatal(err)
		}
	}
	// Not drift, and proven so without a request: a rotated key the
	// policy ignores, another's label.
	n := auditCount(t)
	edit(func(s *corev1.Secret) { s.Data["rotated"] = []byte("by the rotator") })
	if _, err := secrets.Patch(ctx, "db", types.MergePatchType, []byte(`{"metadata":{"labels":{"team":"blue"}}}`), metav1.PatchOptions{FieldManager: "kubectl-label"}); err != nil {
		t.Fatal(err)
	}
	f.quiet(t, 2*time.Second)
	if got := requestsSince(t, n); len(got) != 0 {
		t.Errorf("requests for changes that are not drift: %v", got)
	}

	const edited = "drift-canary-edited-93c2"
	edit(func(s *corev1.Secret) { s.Data["password"] = []byte(edited) })
	fd := f.next(t, 10*time.Second)
	if fd.ID.Kind != "Secret" || fd.Reason != Modified || strings.Join(fd.Keys, ",") != "password" {
		t.Fatalf("finding %+v, want Secret db modified in key password", fd)
	}
	if got := stateHolding(f.w, forms(pw, user, rotated, edited)...); len(got) > 0 {
		t.Errorf("after an edit the drift state holds a value at %v", got)
	}

	// While an apply holds the findings, events wait without values.
	f.w.Pause(s.App, s.Env)
	const held = "drift-canary-held-5e61"
	edit(func(s *corev1.Secret) { s.Data["password"] = []byte(held) })
	time.Sleep(time.Second)
	if got := stateHolding(f.w, forms(pw, user, rotated, edited, held)...); len(got) > 0 {
		t.Errorf("a paused intent holds a value at %v", got)
	}
	if err := f.w.Track(s, nil); err != nil {
		t.Fatal(err)
	}
	f.quiet(t, 2*time.Second) // still the same drift: reported once

	// The correction (with the full set, as a render gives it) resolves it.
	if _, err := f.m.Correct(ctx, s, []apply.ID{idOf(s, 0)}); err != nil {
		t.Fatal(err)
	}
	if fd := f.next(t, 10*time.Second); fd.ID.Name != "db" || fd.Reason != Resolved {
		t.Fatalf("finding %+v, want db resolved", fd)
	}
	// A field other than the values: found, with no key named.
	edit(func(s *corev1.Secret) { s.Annotations["owner"] = "someone" })
	if fd := f.next(t, 10*time.Second); fd.ID.Name != "db" || fd.Reason != Modified || len(fd.Keys) != 0 {
		t.Errorf("finding %+v, want db modified with no key", fd)
	}
	if got := stateHolding(f.w, forms(pw, user, rotated, edited, held)...); len(got) > 0 {
		t.Errorf("the drift state holds a value at %v", got)
	}
}

// TestWithheldSecretIsNotTracked: a set kept after its apply, without
// its Secret values, cannot be compared and is refused for its Secrets.
func TestWithheldSecretIsNotTracked(t *testing.T) {
	f := newFixture(t)
	s := f.set(f.secret("db", map[string]any{"password": "x"}, nil), f.configMap("cfg", map[string]any{"v": "git"}))
	f.applyAndTrack(t, s)
	if err := f.w.Track(s.WithoutSecretValues(), nil); err == nil || !strings.Contains(err.Error(), "Secret/"+f.ns+"/db") {
		t.Errorf("Track of a withheld Secret: %v", err)
	}
}
