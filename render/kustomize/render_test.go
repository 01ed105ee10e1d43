package kustomize

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// repoFS opens a test repository through os.Root, so that symlinks cannot
// lead out of it, as the snapshot's file system behaves.
func repoFS(t testing.TB, dir string) *os.Root {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

func TestRenderGolden(t *testing.T) {
	staging := func(extra map[string]any) map[string]any {
		p := map[string]any{"path": "deploy/overlays/staging"}
		for k, v := range extra {
			p[k] = v
		}
		return p
	}
	tests := []struct {
		name  string
		props map[string]any
	}{
		{"prod-overlay", map[string]any{"path": "deploy/overlays/prod"}},
		{"staging-plain", staging(nil)},
		{"images", staging(map[string]any{"images": []any{
			map[string]any{"name": "ghcr.io/example/shop", "newName": "registry.example.com/shop", "newTag": "2.0.0"},
		}})},
		{"image-digest", staging(map[string]any{"images": []any{
			map[string]any{"name": "ghcr.io/example/shop", "digest": "sha256:" + string(bytes.Repeat([]byte("a"), 64))},
		}})},
		{"patches", staging(map[string]any{"patches": []any{
			map[string]any{"patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop\nspec:\n  replicas: 5\n"},
			map[string]any{"patch": "- op: replace\n  path: /spec/ports/0/port\n  value: 8443\n", "target": map[string]any{"kind": "Service", "name": "shop"}},
			map[string]any{"patch": "- op: add\n  path: /metadata/annotations\n  value: {tier: web}\n", "target": map[string]any{"labelSelector": "app.kubernetes.io/name=shop", "kind": "Deployment"}},
		}})},
		{"name-prefix", staging(map[string]any{"namePrefix": "eu-"})},
		{"name-suffix", staging(map[string]any{"nameSuffix": "-v2"})},
		{"namespace", staging(map[string]any{"namespace": "shop-staging"})},
		{"common-labels", staging(map[string]any{"commonLabels": map[string]any{"team": "payments", "env": "staging"}})},
		{"all-properties-on-prod", map[string]any{
			"path": "deploy/overlays/prod", "namePrefix": "eu-", "nameSuffix": "-v2", "namespace": "shop-eu",
			"commonLabels": map[string]any{"team": "payments"},
			"images":       []any{map[string]any{"name": "ghcr.io/example/shop", "newTag": "1.3.0"}},
		}},
		{"substitute", map[string]any{"path": "deploy/overlays/prod", "substitute": map[string]any{"REGION": "us-east-1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Render(t.Context(), repoFS(t, "testdata/repo").FS(), Request{Dir: "apps/shop", Properties: tt.props}, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "golden", tt.name+".yaml"), toYAML(t, objs))
		})
	}
}

func toYAML(t testing.TB, objs []*unstructured.Unstructured) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, o := range objs {
		y, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}
