package diff

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite golden files")

func obj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	return u
}

const liveDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  uid: 1234
  resourceVersion: "17"
  generation: 1
  labels: {app.carina.dev/name: shop, tier: web}
  managedFields: [{manager: carina, operation: Apply}]
spec:
  replicas: 2
  template:
    spec:
      containers:
      - {name: app, image: "app:1", ports: [{containerPort: 80}]}
      - {name: sidecar, image: "proxy:1"}
status: {replicas: 2}
`

const mergedDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  uid: 1234
  resourceVersion: "17"
  generation: 2
  labels: {app.carina.dev/name: shop, tier: web}
  managedFields: [{manager: carina, operation: Apply, time: "2026-01-01T00:00:00Z"}]
spec:
  replicas: 3
  template:
    spec:
      containers:
      - {name: app, image: "app:2", ports: [{containerPort: 80}]}
      - {name: sidecar, image: "proxy:1"}
status: {replicas: 1}
`

const liveSecret = `
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: shop
  annotations: {kubectl.kubernetes.io/last-applied-configuration: '{"data":{"password":"c2VjcmV0"}}'}
data: {password: c2VjcmV0, user: YWRtaW4=}
`

const mergedSecret = `
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: shop
data: {password: bmV3c2VjcmV0, user: YWRtaW4=}
`

const configMap = `
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop, uid: 99, creationTimestamp: "2026-01-01T00:00:00Z"}
data: {a: "1", b: "2"}
`

func TestCompute(t *testing.T) {
	tests := []struct {
		name         string
		live, merged string
		action       Action
		paths        []string
	}{
		{"update", liveDeployment, mergedDeployment, Update, []string{"spec.replicas", "spec.template.spec.containers[name=app].image"}},
		{"noise-only", liveDeployment, strings.Replace(liveDeployment, `resourceVersion: "17"`, `resourceVersion: "18"`, 1), Unchanged, nil},
		{"create", "", configMap, Create, []string{"apiVersion", "data.a", "data.b", "kind", "metadata.name", "metadata.namespace"}},
		{"delete", configMap, "", Delete, []string{"apiVersion", "data.a", "data.b", "kind", "metadata.name", "metadata.namespace"}},
		{"secret", liveSecret, mergedSecret, Update, []string{"data.password", `metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var live, merged *unstructured.Unstructured
			if tt.live != "" {
				live = obj(t, tt.live)
			}
			if tt.merged != "" {
				merged = obj(t, tt.merged)
			}
			got := Compute("Kind/shop/x", live, merged)
			if got.Action != tt.action {
				t.Errorf("action = %s, want %s", got.Action, tt.action)
			}
			var paths []string
			for _, c := range got.Changes {
				paths = append(paths, c.Path)
			}
			if diff := cmp.Diff(tt.paths, paths); diff != "" {
				t.Errorf("paths (-want +got):\n%s", diff)
			}
			var uni, js bytes.Buffer
			if err := WriteUnified(&uni, []Object{got}); err != nil {
				t.Fatal(err)
			}
			if err := WriteJSON(&js, []Object{got}); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name+".diff", uni.String())
			golden(t, tt.name+".json", js.String())
			if strings.Contains(uni.String()+js.String(), "c2VjcmV0") || strings.Contains(uni.String()+js.String(), "bmV3c2VjcmV0") {
				t.Error("a Secret value leaked into the diff")
			}
		})
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("golden %s (-want +got):\n%s", path, diff)
	}
}

func TestLineDiff(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want string
	}{
		{"replace middle", "1 2 3 4 5 6 7 8 9 10 11 12", "1 2 3 4 5 X 7 8 9 10 11 12", "@@ -3,7 +3,7 @@\n 3\n 4\n 5\n-6\n+X\n 7\n 8\n 9\n"},
		{"two hunks", "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20", "X 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 Y", "@@ -1,4 +1,4 @@\n-1\n+X\n 2\n 3\n 4\n@@ -17,4 +17,4 @@\n 17\n 18\n 19\n-20\n+Y\n"},
		{"add to empty", "", "a b", "@@ -0,0 +1,2 @@\n+a\n+b\n"},
		{"remove all", "a b", "", "@@ -1,2 +0,0 @@\n-a\n-b\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := strings.Fields(tt.a), strings.Fields(tt.b)
			var sb strings.Builder
			writeHunks(&sb, a, b, lineDiff(a, b))
			if diff := cmp.Diff(tt.want, sb.String()); diff != "" {
				t.Errorf("hunks (-want +got):\n%s", diff)
			}
		})
	}
}

// MaskFields hides both sides of a decrypted field, wherever the
// change sits relative to it, and leaves other fields alone.
func TestMaskFields(t *testing.T) {
	live := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "db", "namespace": "shop"},
		"data":     map[string]any{"dsn": "old-plain-dsn", "mode": "a"}}}
	merged := live.DeepCopy()
	merged.Object["data"] = map[string]any{"dsn": "new-plain-dsn", "mode": "b"}
	o := Compute("ConfigMap/shop/db", live, merged)
	o.MaskFields([][]string{{"data", "dsn"}})
	var buf bytes.Buffer
	if err := WriteUnified(&buf, []Object{o}); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&buf, []Object{o}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "plain-dsn") {
		t.Errorf("a decrypted value shows:\n%s", out)
	}
	if !strings.Contains(out, MaskAfter) || !strings.Contains(out, `"b"`) && !strings.Contains(out, "mode: b") {
		t.Errorf("the mask or the other field's change is missing:\n%s", out)
	}
}
