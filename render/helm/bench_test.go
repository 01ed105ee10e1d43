package helm

import (
	"bytes"
	"cmp"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The benchmarks run Carina's engine and `helm template` (built from the
// module proxy at the same version by bench/helm/build-peer.sh) side by
// side on the same chart and values. bench/helm/run.sh runs them and prints
// the ratio. The CLI's time includes its process start; ours includes
// parsing the output into objects, which the CLI does not do.

func helmBinary(b *testing.B) string {
	b.Helper()
	bin := os.Getenv("CARINA_HELM_BIN")
	if bin == "" {
		home, _ := os.UserHomeDir()
		bin = filepath.Join(cmp.Or(os.Getenv("CARINA_BENCH_CACHE"), filepath.Join(home, ".cache", "carina", "bench")), "helm-v3.21.4", "helm")
	}
	if _, err := os.Stat(bin); err != nil {
		b.Skipf("peer helm CLI not found at %s: build it with bench/helm/build-peer.sh", bin)
	}
	return bin
}

// wideChart writes a chart whose one template renders n Deployments and n
// Services from a list in values.yaml, and returns the repository root.
func wideChart(b *testing.B, n int) string {
	b.Helper()
	root := b.TempDir()
	var vals bytes.Buffer
	vals.WriteString("services:\n")
	for i := range n {
		vals.WriteString("  - name: svc-" + strconv.Itoa(i) + "\n    image: ghcr.io/example/svc:" + strconv.Itoa(i%7) + "\n")
	}
	files := map[string]string{
		"wide/Chart.yaml":  "apiVersion: v2\nname: wide\nversion: 1.0.0\n",
		"wide/values.yaml": vals.String(),
		"wide/templates/all.yaml": `{{- range .Values.services }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .name }}
  labels: {app: {{ .name | quote }}, release: {{ $.Release.Name | quote }}}
spec:
  replicas: 2
  selector: {matchLabels: {app: {{ .name | quote }}}}
  template:
    metadata: {labels: {app: {{ .name | quote }}}}
    spec:
      containers:
        - name: main
          image: {{ .image | quote }}
          ports: [{containerPort: 8080}]
          resources: {requests: {cpu: 10m, memory: 32Mi}}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .name }}
spec:
  selector: {app: {{ .name | quote }}}
  ports: [{port: 80, targetPort: 8080}]
{{- end }}
`,
	}
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return root
}

type benchCase struct {
	name string
	root string   // repository root on disk
	req  Request  // for Carina
	args []string // for helm template, run in root
}

func BenchmarkRender(b *testing.B) {
	bin := helmBinary(b)
	repo, err := filepath.Abs("testdata/repo")
	if err != nil {
		b.Fatal(err)
	}
	cases := []benchCase{{
		name: "shop",
		root: repo,
		req: Request{Dir: "apps/shop", ReleaseName: "shop", Namespace: "shop-prod", Properties: map[string]any{
			"chart": "../../charts/shop", "valuesFiles": []any{"values-prod.yaml", "values-eu.yaml"},
		}},
		args: []string{"template", "shop", "charts/shop", "-f", "apps/shop/values-prod.yaml", "-f", "apps/shop/values-eu.yaml",
			"--namespace", "shop-prod", "--include-crds", "--skip-tests"},
	}, {
		name: "wide-600-objects",
		root: wideChart(b, 300),
		req:  Request{ReleaseName: "wide", Namespace: "wide", Properties: map[string]any{"chart": "wide"}},
		args: []string{"template", "wide", "wide", "--namespace", "wide", "--include-crds", "--skip-tests"},
	}}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) { benchChart(b, bin, bc) })
	}
}

// benchChart times one chart, after checking that both sides render the
// same objects. It runs only when the filter selects it.
func benchChart(b *testing.B, bin string, bc benchCase) {
	root, err := os.OpenRoot(bc.root)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	opts := DefaultOptions()
	opts.CacheDir = ""
	checkSameAsCLI(b, bin, bc, root, opts)
	cli := func() (*os.ProcessState, error) {
		cmd := exec.CommandContext(b.Context(), bin, bc.args...)
		cmd.Dir = bc.root
		out, err := cmd.Output()
		if err == nil && len(out) == 0 {
			err = errors.New("no output")
		}
		return cmd.ProcessState, err
	}
	b.Run("carina", func(b *testing.B) {
		for b.Loop() {
			if _, err := Render(b.Context(), root.FS(), bc.req, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("helm-cli", func(b *testing.B) {
		for b.Loop() {
			if _, err := cli(); err != nil {
				b.Fatalf("helm template: %v", err)
			}
		}
	})
	b.Run("interleaved", func(b *testing.B) {
		benchPair(b, func() error {
			_, err := Render(b.Context(), root.FS(), bc.req, opts)
			return err
		}, cli)
	})
}

// checkSameAsCLI makes sure both sides do the same work: the same objects
// by kind and name, once the hooks Carina drops (delete-only) are removed.
func checkSameAsCLI(b *testing.B, bin string, bc benchCase, root *os.Root, opts Options) {
	b.Helper()
	objs, err := Render(b.Context(), root.FS(), bc.req, opts)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.CommandContext(b.Context(), bin, bc.args...)
	cmd.Dir = bc.root
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("helm template: %v", err)
	}
	cli, err := decodeDocuments("helm template", out)
	if err != nil {
		b.Fatal(err)
	}
	var want, got []string
	for _, o := range cli {
		if o.GetAnnotations()["helm.sh/hook"] != "post-delete" {
			want = append(want, o.GetKind()+"/"+o.GetName())
		}
	}
	for _, o := range objs {
		got = append(got, o.GetKind()+"/"+o.GetName())
	}
	if diff := gocmp.Diff(want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		b.Fatalf("Carina and helm template render different objects (-helm +carina):\n%s", diff)
	}
}
