package kustomize

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const configMap = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  k: v\n"

// aliasBomb is a YAML document under 1 KiB that expands to ~10^9 nodes.
const aliasBomb = `apiVersion: v1
kind: ConfigMap
metadata:
  name: bomb
data:
  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
  i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`

// kfs builds a repository from path → content pairs.
func kfs(files ...string) fstest.MapFS {
	m := fstest.MapFS{}
	for i := 0; i+1 < len(files); i += 2 {
		m[files[i]] = &fstest.MapFile{Data: []byte(files[i+1])}
	}
	return m
}

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

func TestRenderRefusesBadInput(t *testing.T) {
	withOpts := func(f func(*Options)) Options {
		o := DefaultOptions()
		f(&o)
		return o
	}
	tests := []struct {
		name  string
		fsys  fs.FS
		props map[string]any
		opts  Options
		wants []string
	}{
		{"remote base, GitHub shorthand", kfs("k/kustomization.yaml", "resources:\n- github.com/example/repo//deploy?ref=v1\n"),
			nil, DefaultOptions(), []string{"k/kustomization.yaml", `resources "github.com/example/repo//deploy?ref=v1" is remote`}},
		{"remote base, scp-style git", kfs("k/kustomization.yaml", "resources:\n- git@github.com:example/repo.git//base\n"),
			nil, DefaultOptions(), []string{"is remote"}},
		{"remote base, forced git protocol", kfs("k/kustomization.yaml", "bases:\n- git::https://example.com/repo.git\n"),
			nil, DefaultOptions(), []string{`bases "git::https://example.com/repo.git" is remote`}},
		{"remote file over https", kfs("k/kustomization.yaml", "resources:\n- https://raw.example.com/deploy.yaml\n"),
			nil, DefaultOptions(), []string{"is remote"}},
		{"remote component", kfs("k/kustomization.yaml", "components:\n- https://example.com/repo//component\n"),
			nil, DefaultOptions(), []string{"components", "is remote"}},
		{"remote patch file", kfs("k/kustomization.yaml", "resources: [cm.yaml]\npatches:\n- path: https://example.com/p.yaml\n", "k/cm.yaml", configMap),
			nil, DefaultOptions(), []string{`path "https://example.com/p.yaml" is remote`}},
		{"remote generator file", kfs("k/kustomization.yaml", "configMapGenerator:\n- name: c\n  files:\n  - cfg=https://example.com/x\n"),
			nil, DefaultOptions(), []string{`files "https://example.com/x" is remote`}},
		{"remote reference in a base", kfs(
			"k/kustomization.yaml", "resources: [../base]\n",
			"base/kustomization.yaml", "resources:\n- cm.yaml\n- https://example.com/x.yaml\n", "base/cm.yaml", configMap),
			nil, DefaultOptions(), []string{"base/kustomization.yaml", "is remote"}},
		{"exec plugin", kfs("k/kustomization.yaml", "resources: [cm.yaml]\ntransformers: [plugin.yaml]\n", "k/cm.yaml", configMap,
			"k/plugin.yaml", "apiVersion: someteam.example.com/v1\nkind: SedTransformer\nmetadata:\n  name: sed\nargsOneLiner: s/a/b/\n"),
			nil, DefaultOptions(), []string{"SedTransformer", "plugin"}},
		{"KRM exec function", kfs("k/kustomization.yaml", "resources: [cm.yaml]\ntransformers: [fn.yaml]\n", "k/cm.yaml", configMap,
			"k/fn.yaml", "apiVersion: example.com/v1\nkind: Fn\nmetadata:\n  name: fn\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: ./fn.sh\n"),
			nil, DefaultOptions(), []string{"k/fn.yaml", "KRM functions (exec and container) are off"}},
		{"KRM container function inline", kfs("k/kustomization.yaml", "resources: [cm.yaml]\ngenerators:\n- |\n  apiVersion: example.com/v1\n  kind: Gen\n  metadata:\n    name: g\n    annotations:\n      config.kubernetes.io/function: |\n        container:\n          image: example.com/gen\n", "k/cm.yaml", configMap),
			nil, DefaultOptions(), []string{"generators entry", "KRM functions"}},
		{"KRM function in a transformer directory", kfs("k/kustomization.yaml", "resources: [cm.yaml]\ntransformers: [../fns]\n", "k/cm.yaml", configMap,
			"fns/kustomization.yaml", "resources: [fn.yaml]\n",
			"fns/fn.yaml", "apiVersion: example.com/v1\nkind: Fn\nmetadata:\n  name: fn\n  annotations:\n    config.k8s.io/function: |\n      exec:\n        path: ./fn.sh\n"),
			nil, DefaultOptions(), []string{"fns/fn.yaml", "KRM functions"}},
		{"helm chart inflation", kfs("k/kustomization.yaml", "helmCharts:\n- name: redis\n  repo: https://charts.example.com\n"),
			nil, DefaultOptions(), []string{"helmCharts", "Helm chart inflation is off"}},
		{"helm inflation generator config", kfs("k/kustomization.yaml", "generators: [helm.yaml]\n",
			"k/helm.yaml", "apiVersion: builtin\nkind: HelmChartInflationGenerator\nmetadata:\n  name: redis\nname: redis\n"),
			nil, DefaultOptions(), []string{"k/helm.yaml", "Helm chart inflation is off"}},
		{"resource climbing out of the root", kfs("k/kustomization.yaml", "resources:\n- ../../../etc\n"),
			nil, DefaultOptions(), []string{`resources "../../../etc" escapes the repository root`}},
		{"absolute resource", kfs("k/kustomization.yaml", "resources:\n- /etc/kubernetes\n"),
			nil, DefaultOptions(), []string{`"/etc/kubernetes" is absolute`}},
		{"patch file climbing out of the root", kfs("k/kustomization.yaml", "resources: [cm.yaml]\npatches:\n- path: ../../../p.yaml\n", "k/cm.yaml", configMap),
			nil, DefaultOptions(), []string{`path "../../../p.yaml" escapes the repository root`}},
		{"file outside its kustomization", kfs("k/kustomization.yaml", "resources:\n- ../shared/cm.yaml\n", "shared/cm.yaml", configMap),
			nil, DefaultOptions(), []string{`resources "../shared/cm.yaml" is a file outside the kustomization's directory`}},
		{"path out of the repository", kfs("k/kustomization.yaml", "resources: []\n"),
			map[string]any{"path": "../../k"}, DefaultOptions(), []string{`kustomize path "../../k" escapes the repository root`}},
		{"missing kustomization", kfs("k/cm.yaml", configMap),
			nil, DefaultOptions(), []string{"k: no kustomization.yaml"}},
		{"missing directory", kfs("k/cm.yaml", configMap),
			map[string]any{"path": "nope"}, DefaultOptions(), []string{"kustomization nope: not a directory"}},
		{"base without kustomization", kfs("k/kustomization.yaml", "resources: [../base]\n", "base/cm.yaml", configMap),
			nil, DefaultOptions(), []string{"base: no kustomization.yaml"}},
		{"alias bomb", kfs("k/kustomization.yaml", "resources: [bomb.yaml]\n", "k/bomb.yaml", aliasBomb),
			nil, DefaultOptions(), []string{"k/bomb.yaml", "YAML aliases expand to more than"}},
		{"alias bomb in the kustomization", kfs("k/kustomization.yaml", strings.Replace(aliasBomb, "data:", "x:", 1)),
			nil, DefaultOptions(), []string{"k/kustomization.yaml", "YAML aliases expand to more than"}},
		{"too many files", kfs("k/kustomization.yaml", "resources: [cm.yaml]\n", "k/cm.yaml", configMap, "k/a", "", "k/b", ""),
			nil, withOpts(func(o *Options) { o.MaxFiles = 2 }), []string{"more than 2 files"}},
		{"too many bytes", kfs("k/kustomization.yaml", "resources: [cm.yaml]\n", "k/cm.yaml", configMap+strings.Repeat("#", 2000)),
			nil, withOpts(func(o *Options) { o.MaxBytes = 1000 }), []string{"more than 1000 bytes"}},
		{"too many objects", kfs("k/kustomization.yaml", "resources: [cm.yaml]\nnameSuffix: -x\n", "k/cm.yaml", configMap+"---\n"+strings.Replace(configMap, "name: cm", "name: cm2", 1)),
			nil, withOpts(func(o *Options) { o.MaxObjects = 1 }), []string{"2 objects, over the cap of 1"}},
		{"output too big", kfs("k/kustomization.yaml", "resources: [cm.yaml]\n", "k/cm.yaml", configMap),
			nil, withOpts(func(o *Options) { o.MaxOutputBytes = 20 }), []string{"over the cap of 20 bytes"}},
		{"unset variable, strict", kfs("k/kustomization.yaml", "resources: [cm.yaml]\n", "k/cm.yaml", strings.Replace(configMap, "k: v", "k: ${NOPE}", 1)),
			map[string]any{"path": "k", "substitute": map[string]any{"X": "1"}}, withOpts(func(o *Options) { o.StrictSubstitute = true }),
			[]string{"ConfigMap.v1.[noGrp]/cm", "variable NOPE is not set"}},
		{"unknown property", kfs("k/kustomization.yaml", "resources: []\n"),
			map[string]any{"path": "k", "prefix": "x-"}, DefaultOptions(), []string{`unknown field "prefix"`}},
		{"no path", kfs("k/kustomization.yaml", "resources: []\n"),
			map[string]any{}, DefaultOptions(), []string{"path is required"}},
		{"bad variable name", kfs("k/kustomization.yaml", "resources: []\n"),
			map[string]any{"path": "k", "substitute": map[string]any{"A-B": "1"}}, DefaultOptions(), []string{`substitute key "A-B"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			props := tt.props
			if props == nil {
				props = map[string]any{"path": "k"}
			}
			objs, err := Render(t.Context(), tt.fsys, Request{Properties: props}, tt.opts)
			assertError(t, objs, err, tt.wants...)
		})
	}
}

// TestRenderRefusesSymlinksOutOfTheRepo lays out a repository whose
// kustomization reaches a file, and a base, through symlinks that lead out
// of it. os.Root refuses them, as the snapshot's file system does.
func TestRenderRefusesSymlinksOutOfTheRepo(t *testing.T) {
	base := t.TempDir()
	write := func(name, data string) {
		p := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("outside/secret.yaml", strings.Replace(configMap, "name: cm", "name: stolen", 1))
	write("outside/base/kustomization.yaml", "resources: [../secret.yaml]\n")
	write("repo/file/kustomization.yaml", "resources: [secret.yaml]\n")
	write("repo/dir/kustomization.yaml", "resources: [base]\n")
	write("repo/inside/kustomization.yaml", "resources: [cm.yaml, linked]\n")
	write("repo/inside/real/kustomization.yaml", "resources: [cm.yaml]\n")
	write("repo/inside/real/cm.yaml", strings.Replace(configMap, "name: cm", "name: real", 1))
	write("repo/inside/real/other.yaml", strings.Replace(configMap, "name: cm", "name: other", 1))
	links := map[string]string{
		"repo/file/secret.yaml": "../../outside/secret.yaml",
		"repo/dir/base":         filepath.Join(base, "outside/base"),
		"repo/inside/cm.yaml":   "real/other.yaml",
		"repo/inside/linked":    "real",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(base, name)); err != nil {
			t.Fatal(err)
		}
	}
	root := repoFS(t, filepath.Join(base, "repo"))
	for _, path := range []string{"file", "dir"} {
		t.Run(path, func(t *testing.T) {
			objs, err := Render(t.Context(), root.FS(), Request{Properties: map[string]any{"path": path}}, DefaultOptions())
			assertError(t, objs, err, "kustomization "+path, "escapes")
		})
	}
	t.Run("symlinks inside the repository are followed", func(t *testing.T) {
		objs, err := Render(t.Context(), root.FS(), Request{Properties: map[string]any{"path": "inside", "nameSuffix": "-x"}}, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, o := range objs {
			names = append(names, o.GetName())
		}
		if diff := cmp.Diff([]string{"other-x", "real-x"}, names); diff != "" {
			t.Errorf("names (-want +got):\n%s", diff)
		}
	})
}

// TestRenderSkipsGitDirectories: a .git directory in the copied tree is
// neither copied nor charged to the budget.
func TestRenderSkipsGitDirectories(t *testing.T) {
	fsys := kfs("kustomization.yaml", "resources: [cm.yaml]\n", "cm.yaml", configMap)
	for i := range 50 {
		fsys[fmt.Sprintf(".git/objects/%02d", i)] = &fstest.MapFile{Data: []byte("blob")}
	}
	o := DefaultOptions()
	o.MaxFiles = 5
	objs, err := Render(t.Context(), fsys, Request{Properties: map[string]any{"path": "."}}, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 {
		t.Errorf("got %d objects, want 1", len(objs))
	}
}
