package render

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/capabilities"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenCase is a golden test input: an application in appfile's JSON
// form and the environment to render (DefaultEnv when omitted).
type goldenCase struct {
	App appfile.Application `json:"app"`
	Env appfile.Environment `json:"env"`
}

var (
	testCacheOnce sync.Once
	testCache     *capabilities.Cache
)

// sharedCache lets the tests of this package compile each template once.
func sharedCache() *capabilities.Cache {
	testCacheOnce.Do(func() { testCache = capabilities.NewCache(capabilities.DefaultCacheOptions()) })
	return testCache
}

func testRegistry(t testing.TB, modules ...capabilities.Module) *capabilities.Registry {
	t.Helper()
	opts := capabilities.DefaultOptions()
	opts.Cache = sharedCache()
	reg, err := capabilities.NewRegistry(t.Context(), opts, modules...)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// repoFS is the test repository, read as the CLI reads one.
func repoFS(t testing.TB) *os.Root {
	t.Helper()
	root, err := os.OpenRoot(filepath.Join("testdata", "repo"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

func loadCase(t testing.TB, file string) goldenCase {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var c goldenCase
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if c.Env.Name == "" {
		c.Env.Name = appfile.DefaultEnv
	}
	return c
}

// formatResult prints objects as a YAML stream, each with a comment saying
// where it came from.
func formatResult(t testing.TB, res *Result) []byte {
	t.Helper()
	var b bytes.Buffer
	fmt.Fprintf(&b, "# app %s, env %s, namespace %s, %d objects\n", res.App, res.Env, res.Namespace, len(res.Objects))
	for _, o := range res.Objects {
		data, err := yaml.Marshal(o.Object.Object)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "---\n# component %s, %s", o.Component, o.Definition)
		if o.Workload {
			b.WriteString(", workload")
		}
		if o.OutputName != "" {
			fmt.Fprintf(&b, ", outputs.%s", o.OutputName)
		}
		b.WriteString("\n")
		b.Write(data)
	}
	return b.Bytes()
}

// TestGolden renders every testdata/golden/*.app.yaml and compares the
// objects with the matching .golden.yaml. Run with -update to rewrite.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.app.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	reg := testRegistry(t)
	root := repoFS(t)
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".app.yaml")
		t.Run(name, func(t *testing.T) {
			c := loadCase(t, file)
			res, err := Render(t.Context(), &c.App, c.Env, reg, root.FS(), DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			got := formatResult(t, res)
			golden := strings.TrimSuffix(file, ".app.yaml") + ".golden.yaml"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
		})
	}
}
