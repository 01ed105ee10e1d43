package apply

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/carina-gitops/carina/apply/diff"
	"github.com/carina-gitops/carina/apply/internal/applytest"
)

func TestDiff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	secret := func(pw string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Secret",
			"metadata":   map[string]any{"name": "db", "namespace": e.ns, "labels": applytest.Labels(e.app, e.env, "db")},
			"stringData": map[string]any{"password": pw},
		}}
	}
	dep := e.owner.Deployment(e.ns, "web", 1, nil)
	mustApply(t, m, e.set(dep, secret("old-secret-value"), e.owner.ConfigMap(e.ns, "gone", nil), e.owner.ConfigMap(e.ns, "same", nil)))
	mark := len(auditEvents(t))

	dep2 := dep.DeepCopy()
	unstructured.SetNestedField(dep2.Object, int64(3), "spec", "replicas")
	objs, err := m.Diff(t.Context(), e.set(dep2, secret("new-secret-value"), e.owner.ConfigMap(e.ns, "same", nil), e.owner.ConfigMap(e.ns, "new", map[string]string{"k": "v"})), DiffOptions{Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, o := range objs {
		var paths []string
		for _, c := range o.Changes {
			paths = append(paths, c.Path)
		}
		got[o.Ref] = string(o.Action) + " " + strings.Join(paths, ",")
	}
	want := map[string]string{
		"Deployment/" + e.ns + "/web": "update spec.replicas",
		"Secret/" + e.ns + "/db":      "update data.password",
		"ConfigMap/" + e.ns + "/same": "unchanged ",
		"ConfigMap/" + e.ns + "/new":  "create apiVersion,data.k,kind,metadata.labels[\"app.carina.dev/component\"],metadata.labels[\"app.carina.dev/env\"],metadata.labels[\"app.carina.dev/name\"],metadata.name,metadata.namespace",
		"ConfigMap/" + e.ns + "/gone": "delete apiVersion,kind,metadata.labels[\"app.carina.dev/component\"],metadata.labels[\"app.carina.dev/env\"],metadata.labels[\"app.carina.dev/name\"],metadata.name,metadata.namespace",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("diff (-want +got):\n%s", d)
	}
	var out bytes.Buffer
	if err := diff.WriteUnified(&out, objs); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); strings.Contains(s, "secret-value") || strings.Contains(s, "c2VjcmV0LXZhbHVl") || !strings.Contains(s, "+  replicas: 3") {
		t.Errorf("unified diff:\n%s", s)
	}
	if w := e.writesSince(t, mark); len(w) != 0 {
		t.Errorf("diff wrote %d times:\n%s", len(w), applytest.Describe(w))
	}
}
