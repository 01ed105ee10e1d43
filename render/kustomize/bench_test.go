package kustomize

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// The benchmarks run Carina's engine and the `kustomize` CLI (v5.8.2, the
// release built on kustomize/api v0.21.2, the krusty Carina links; built
// from the module proxy by bench/kustomize/build-peer.sh) side by side on
// the same overlay. `kubectl kustomize` embeds the same krusty, so the
// kustomize CLI is the same work without kubectl's start-up.
// bench/kustomize/run.sh runs them and prints the ratio.

func kustomizeBinary(b *testing.B) string {
	b.Helper()
	bin := os.Getenv("CARINA_KUSTOMIZE_BIN")
	if bin == "" {
		home, _ := os.UserHomeDir()
		bin = filepath.Join(cmp.Or(os.Getenv("CARINA_BENCH_CACHE"), filepath.Join(home, ".cache", "carina", "bench")), "kustomize-v5.8.2", "kustomize")
	}
	if _, err := os.Stat(bin); err != nil {
		b.Skipf("peer kustomize CLI not found at %s: build it with bench/kustomize/build-peer.sh", bin)
	}
	return bin
}

// benchRepo writes a base of n objects (a Deployment, a Service, a
// ConfigMap and a ServiceAccount per app, one file per app) and an overlay
// that sets a namespace, a name prefix, labels, an image and a patch.
func benchRepo(b *testing.B, n int) string {
	b.Helper()
	root := b.TempDir()
	write := func(name, data string) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	var res bytes.Buffer
	res.WriteString("resources:\n")
	for i := range n / 4 {
		name := fmt.Sprintf("app-%04d", i)
		res.WriteString("  - " + name + ".yaml\n")
		write("base/"+name+".yaml", fmt.Sprintf(benchApp, name))
	}
	write("base/kustomization.yaml", res.String())
	write("overlay/kustomization.yaml", `resources:
  - ../base
namespace: bench
namePrefix: prod-
labels:
  - pairs: {team: payments}
    includeSelectors: true
images:
  - name: ghcr.io/example/app
    newTag: "2.0.0"
patches:
  - target: {kind: Deployment}
    patch: |-
      - op: replace
        path: /spec/replicas
        value: 3
`)
	return root
}

const benchApp = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: 1
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      serviceAccountName: %[1]s
      containers:
        - name: main
          image: ghcr.io/example/app:1.0.0
          envFrom: [{configMapRef: {name: %[1]s}}]
          ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata:
  name: %[1]s
spec:
  selector: {app: %[1]s}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: %[1]s
data:
  LOG_LEVEL: info
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: %[1]s
`

func BenchmarkRender(b *testing.B) {
	bin := kustomizeBinary(b)
	for _, n := range []int{4, 1000} {
		b.Run(fmt.Sprintf("objects-%d", n), func(b *testing.B) { benchOverlay(b, bin, n) })
	}
}

// benchOverlay times one overlay of n objects, after checking that both
// sides build the same objects. It runs only when the filter selects it.
func benchOverlay(b *testing.B, bin string, n int) {
	dir := benchRepo(b, n)
	root, err := os.OpenRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	req := Request{Properties: map[string]any{"path": "overlay"}}
	opts := DefaultOptions()
	checkSameAsCLI(b, bin, dir, root, req, opts, n)
	cli := func() (*os.ProcessState, error) {
		cmd := exec.CommandContext(b.Context(), bin, "build", "overlay")
		cmd.Dir = dir
		out, err := cmd.Output()
		if err == nil && len(out) == 0 {
			err = errors.New("no output")
		}
		return cmd.ProcessState, err
	}
	b.Run("carina", func(b *testing.B) {
		for b.Loop() {
			if _, err := Render(b.Context(), root.FS(), req, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("kustomize-cli", func(b *testing.B) {
		for b.Loop() {
			if _, err := cli(); err != nil {
				b.Fatalf("kustomize build: %v", err)
			}
		}
	})
	b.Run("interleaved", func(b *testing.B) {
		benchPair(b, func() error {
			_, err := Render(b.Context(), root.FS(), req, opts)
			return err
		}, cli)
	})
}

// checkSameAsCLI makes sure both sides produce the same n objects.
func checkSameAsCLI(b *testing.B, bin, dir string, root *os.Root, req Request, opts Options, n int) {
	b.Helper()
	objs, err := Render(b.Context(), root.FS(), req, opts)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.CommandContext(b.Context(), bin, "build", "overlay")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("kustomize build: %v", err)
	}
	cli := decodeStream(b, out)
	if len(objs) != n || len(cli) != n {
		b.Fatalf("carina rendered %d objects and the CLI %d, want %d", len(objs), len(cli), n)
	}
	key := func(o *unstructured.Unstructured) string { return o.GetKind() + "/" + o.GetName() }
	byKey := func(a, b *unstructured.Unstructured) int { return cmp.Compare(key(a), key(b)) }
	slices.SortFunc(objs, byKey)
	slices.SortFunc(cli, byKey)
	for i := range objs {
		if diff := gocmp.Diff(cli[i].Object, objs[i].Object); diff != "" {
			b.Fatalf("%s differs (-cli +carina):\n%s", key(objs[i]), diff)
		}
	}
}

func decodeStream(b *testing.B, data []byte) []*unstructured.Unstructured {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			b.Fatal(err)
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			b.Fatal(err)
		}
		var m map[string]any
		if err := utiljson.Unmarshal(js, &m); err != nil {
			b.Fatal(err)
		}
		if m != nil {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
}
