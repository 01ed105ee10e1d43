package helm

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

// repoFS is the test repository, opened through os.Root so that symlinks
// cannot lead out of it, as the snapshot's file system behaves.
func repoFS(t testing.TB, dir string) *os.Root {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

func testOptions(t testing.TB) Options {
	o := DefaultOptions()
	o.CacheDir = t.TempDir()
	return o
}

func TestRenderGolden(t *testing.T) {
	noHooks := testOptions(t)
	noHooks.IncludeHooks = false
	tests := []struct {
		name string
		req  Request
		opts Options
	}{{
		name: "defaults",
		req:  Request{Dir: "apps/shop", Properties: map[string]any{"chart": "../../charts/shop"}, ReleaseName: "shop", Namespace: "shop-prod"},
	}, {
		name: "values-files-then-inline",
		req: Request{Dir: "apps/shop", ReleaseName: "shop", Namespace: "shop-prod", Properties: map[string]any{
			"chart":       "../../charts/shop",
			"valuesFiles": []any{"values-prod.yaml", "values-eu.yaml"},
			"values": map[string]any{
				"image":        map[string]any{"tag": "2.0.0"},
				"featureFlags": map[string]any{"checkout": false},
				"replicaCount": int64(5),
			},
		}},
	}, {
		name: "subchart-enabled-by-condition",
		req: Request{Dir: "apps/shop", ReleaseName: "shop", Namespace: "shop-prod", Properties: map[string]any{
			"chart": "../../charts/shop", "valuesFiles": []string{"values-cache.yaml"},
		}},
	}, {
		name: "without-crds-and-hooks",
		req: Request{Dir: "apps/shop", ReleaseName: "shop", Namespace: "shop-prod", Properties: map[string]any{
			"chart": "../../charts/shop", "includeCRDs": false,
		}},
		opts: noHooks,
	}, {
		name: "release-namespace-and-capabilities",
		req: Request{
			Dir: "apps/shop", ReleaseName: "shop", Namespace: "shop-prod",
			KubeVersion: "v1.31.2", APIVersions: []string{"monitoring.coreos.com/v1"},
			Properties: map[string]any{"chart": "../../charts/shop", "releaseName": "checkout", "namespace": "payments"},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			if opts.MaxChartBytes == 0 {
				opts = testOptions(t)
			}
			objs, err := Render(t.Context(), repoFS(t, "testdata/repo").FS(), tt.req, opts)
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
