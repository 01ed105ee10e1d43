package helm

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// minimalChart is a chart whose one template is tpl.
func minimalChart(tpl string) fstest.MapFS {
	return fstest.MapFS{
		"chart/Chart.yaml":          {Data: []byte("apiVersion: v2\nname: tiny\nversion: 1.0.0\n")},
		"chart/values.yaml":         {Data: []byte("size: 1\n")},
		"chart/templates/main.yaml": {Data: []byte(tpl)},
	}
}

// aliasBomb is a YAML document under 1 KiB that expands to ~10^9 nodes.
const aliasBomb = `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`

func TestRenderRefusesBadInput(t *testing.T) {
	repo := repoFS(t, "testdata/repo").FS()
	tiny := minimalChart("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
	bomb := minimalChart("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
	bomb["values-bomb.yaml"] = &fstest.MapFile{Data: []byte(aliasBomb)}
	big := minimalChart("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  blob: " + strings.Repeat("x", 4096) + "\n")
	many := minimalChart("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
	for i := range 20 {
		many[filepath.Join("chart/files", string(rune('a'+i)))] = &fstest.MapFile{Data: []byte("x")}
	}
	small := func(f func(*Options)) Options {
		o := testOptions(t)
		f(&o)
		return o
	}
	tests := []struct {
		name  string
		fsys  fs.FS
		req   Request
		opts  Options
		wants []string // substrings the error must contain
	}{
		{"values file climbing out of the root", repo,
			Request{Dir: "apps/shop", Properties: map[string]any{"chart": "../../charts/shop", "valuesFiles": []any{"../../../etc/passwd"}}},
			testOptions(t), []string{"valuesFiles", "../../../etc/passwd", "escapes the repository root"}},
		{"values file ../../etc/passwd from the root", repo,
			Request{Dir: ".", Properties: map[string]any{"chart": "charts/shop", "valuesFiles": []any{"../../etc/passwd"}}},
			testOptions(t), []string{"valuesFiles", "escapes the repository root"}},
		{"absolute values file", repo,
			Request{Dir: "apps/shop", Properties: map[string]any{"chart": "../../charts/shop", "valuesFiles": []any{"/etc/passwd"}}},
			testOptions(t), []string{"valuesFiles", "absolute"}},
		{"chart path climbing out of the root", repo,
			Request{Dir: "apps/shop", Properties: map[string]any{"chart": "../../../charts/shop"}},
			testOptions(t), []string{"chart", "escapes the repository root"}},
		{"missing values file", repo,
			Request{Dir: "apps/shop", Properties: map[string]any{"chart": "../../charts/shop", "valuesFiles": []any{"nope.yaml"}}},
			testOptions(t), []string{`valuesFiles "nope.yaml"`, "no such file"}},
		{"alias bomb in a values file", bomb,
			Request{Properties: map[string]any{"chart": "chart", "valuesFiles": []any{"values-bomb.yaml"}}},
			testOptions(t), []string{"values-bomb.yaml", "excessive aliasing"}},
		{"chart over the size cap", big,
			Request{Properties: map[string]any{"chart": "chart"}},
			small(func(o *Options) { o.MaxChartBytes = 2048 }), []string{"chart chart", "over the size cap of 2048 bytes"}},
		{"chart file over the file cap", big,
			Request{Properties: map[string]any{"chart": "chart"}},
			small(func(o *Options) { o.MaxFileBytes = 1024 }), []string{"templates/main.yaml", "over the 1024-byte file cap"}},
		{"chart with too many files", many,
			Request{Properties: map[string]any{"chart": "chart"}},
			small(func(o *Options) { o.MaxChartFiles = 10 }), []string{"more files than the cap of 10"}},
		{"rendered output over the cap", big,
			Request{Properties: map[string]any{"chart": "chart"}},
			small(func(o *Options) { o.MaxOutputBytes = 1000 }), []string{"rendered output", "over the cap of 1000"}},
		{"alias bomb rendered by a template", minimalChart("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n" + indent(aliasBomb)),
			Request{Properties: map[string]any{"chart": "chart"}},
			testOptions(t), []string{"tiny/templates/main.yaml", "excessive aliasing"}},
		{"template without kind", minimalChart("metadata:\n  name: x\n"),
			Request{Properties: map[string]any{"chart": "chart"}},
			testOptions(t), []string{"tiny/templates/main.yaml", "no apiVersion or kind"}},
		{"template syntax error", minimalChart("{{ .Values.size "),
			Request{Properties: map[string]any{"chart": "chart"}},
			testOptions(t), []string{"tiny/templates/main.yaml"}},
		{"unknown property", tiny,
			Request{Properties: map[string]any{"chart": "chart", "valueFiles": []any{"x.yaml"}}},
			testOptions(t), []string{"helm properties", `unknown field "valueFiles"`}},
		{"no chart", tiny, Request{Properties: map[string]any{}}, testOptions(t), []string{"chart is required"}},
		{"version without a repository", tiny,
			Request{Properties: map[string]any{"chart": "chart", "version": "1.0.0"}},
			testOptions(t), []string{"version", "applies only to a chart from repoURL"}},
		{"bad release name", tiny,
			Request{ReleaseName: "Not_Valid!", Properties: map[string]any{"chart": "chart"}},
			testOptions(t), []string{`helm release name "Not_Valid!"`}},
		{"unsupported repository scheme", tiny,
			Request{Properties: map[string]any{"chart": "x", "repoURL": "file:///etc"}},
			testOptions(t), []string{"repoURL file:///etc", "scheme"}},
		{"dependency not vendored", fstest.MapFS{
			"chart/Chart.yaml":          {Data: []byte("apiVersion: v2\nname: tiny\nversion: 1.0.0\ndependencies:\n- name: redis\n  version: 1.0.0\n")},
			"chart/templates/main.yaml": {Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")},
		}, Request{Properties: map[string]any{"chart": "chart"}}, testOptions(t), []string{"dependencies redis", "missing from charts/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.req.ReleaseName == "" {
				tt.req.ReleaseName = "r"
			}
			objs, err := Render(t.Context(), tt.fsys, tt.req, tt.opts)
			assertError(t, objs, err, tt.wants...)
		})
	}
}

// assertError checks that a render failed whole, with every want in its
// message.
func assertError(t *testing.T, objs []*unstructured.Unstructured, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("render succeeded, want an error containing %q", wants)
	}
	t.Logf("error: %v", err)
	if objs != nil {
		t.Errorf("a failed render returned %d objects, want none", len(objs))
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}

// symlinkRepo lays out a repository in a temporary directory with a tiny
// chart, a secret file outside it, and symlinks from inside to the secret.
func symlinkRepo(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "repo")
	files := map[string]string{
		"outside/secret.yaml":          "password: hunter2\n",
		"repo/apps/web/values.yaml":    "size: 2\n",
		"repo/chart/Chart.yaml":        "apiVersion: v2\nname: tiny\nversion: 1.0.0\n",
		"repo/chart/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
		"repo/other/chart/Chart.yaml":  "apiVersion: v2\nname: other\nversion: 1.0.0\n",
		"repo/other/chart/values.yaml": "size: 3\n",
		"repo/other/chart/templates/x": "",
	}
	for name, data := range files {
		p := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"repo/apps/web/evil.yaml":          "../../../outside/secret.yaml",
		"repo/apps/web/abs.yaml":           filepath.Join(base, "outside/secret.yaml"),
		"repo/apps/web/inside.yaml":        "values.yaml",
		"repo/chart/templates/secret.yaml": "../../../outside/secret.yaml",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(base, name)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestRenderRefusesSymlinksOutOfTheRepo(t *testing.T) {
	root := repoFS(t, symlinkRepo(t))
	tests := []struct {
		name  string
		props map[string]any
		wants []string
	}{
		{"relative symlink as a values file", map[string]any{"chart": "../../other/chart", "valuesFiles": []any{"evil.yaml"}},
			[]string{`valuesFiles "evil.yaml"`, "escapes"}},
		{"absolute symlink as a values file", map[string]any{"chart": "../../other/chart", "valuesFiles": []any{"abs.yaml"}},
			[]string{`valuesFiles "abs.yaml"`, "escapes"}},
		{"symlink inside a chart", map[string]any{"chart": "../../chart"},
			[]string{"symlink templates/secret.yaml", "escapes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Render(t.Context(), root.FS(), Request{Dir: "apps/web", ReleaseName: "web", Properties: tt.props}, testOptions(t))
			assertError(t, objs, err, tt.wants...)
		})
	}
	t.Run("symlink that stays inside the repo is followed", func(t *testing.T) {
		objs, err := Render(t.Context(), root.FS(), Request{Dir: "apps/web", ReleaseName: "web", Properties: map[string]any{
			"chart": "../../other/chart", "valuesFiles": []any{"inside.yaml"},
		}}, testOptions(t))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(0, len(objs)); diff != "" {
			t.Errorf("objects (-want +got):\n%s", diff)
		}
	})
}

// TestRenderOffline checks the template functions that would reach out of
// the render: lookup sees an empty cluster and getHostByName resolves
// nothing (it returns "", helm's behaviour with DNS off).
func TestRenderOffline(t *testing.T) {
	fsys := minimalChart(`apiVersion: v1
kind: ConfigMap
metadata:
  name: offline
data:
  secret: {{ if (lookup "v1" "Secret" "kube-system" "admin") }}"found"{{ else }}"absent"{{ end }}
  namespaces: {{ (lookup "v1" "Namespace" "" "").items | default list | len | quote }}
  host: {{ getHostByName "example.com" | quote }}
`)
	objs, err := Render(t.Context(), fsys, Request{ReleaseName: "r", Properties: map[string]any{"chart": "chart"}}, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 {
		t.Fatalf("got %d objects, want 1", len(objs))
	}
	want := map[string]any{"secret": "absent", "namespaces": "0", "host": ""}
	if diff := cmp.Diff(want, objs[0].Object["data"]); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}
}
