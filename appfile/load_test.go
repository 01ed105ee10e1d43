package appfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

const webApp = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: %s
spec:
  components: [{name: web, type: webservice}]
`

func kubeVela(name string) string { return strings.Replace(webApp, "%s", name, 1) }

// repo is a repository tree with applications in both syntaxes among
// files Load must ignore.
func repo() fstest.MapFS {
	return fstest.MapFS{
		"apps/shop/Appfile":                  file("name: shop\nservices:\n  web: {type: webservice, image: x}\n"),
		"apps/api/app.yaml":                  file(kubeVela("api") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"),
		"apps/pair.yml":                      file(kubeVela("beta") + "---\n" + kubeVela("alpha")),
		"apps/api/deploy/kustomization.yaml": file("resources: [deployment.yaml]\n"),
		"apps/api/deploy/deployment.yaml":    file("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"),
		"apps/api/values.yaml":               file("note: see core.oam.dev/v1beta1 docs\nreplicas: 2\n"),
		"argo/app.yaml":                      file("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: shop}\n"),
		"charts/vela/Chart.yaml":             file("name: vela\n"),
		"charts/vela/templates/app.yaml":     file("apiVersion: core.oam.dev/v1beta1\nkind: Application\n{{ .Values.x }}\n"),
		".github/workflows/app.yaml":         file("apiVersion: core.oam.dev/v1beta1\nkind: Application\n: broken\n"),
		"README.md":                          file("core.oam.dev/v1beta1"),
	}
}

func TestLoad(t *testing.T) {
	apps, err := Load(repo(), ".")
	if err != nil {
		t.Fatal(err)
	}
	type found struct{ Name, Dir, File string }
	var got []found
	for _, a := range apps {
		got = append(got, found{a.Name, a.Dir, a.Pos.String()})
	}
	want := []found{
		{"alpha", "apps", "apps/pair.yml:8:1"},
		{"api", "apps/api", "apps/api/app.yaml:1:1"},
		{"beta", "apps", "apps/pair.yml:1:1"},
		{"shop", "apps/shop", "apps/shop/Appfile:1:1"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("applications (-want +got):\n%s", diff)
	}

	sub, err := Load(repo(), "apps/shop")
	if err != nil || len(sub) != 1 || sub[0].Name != "shop" {
		t.Errorf("Load(apps/shop) = %v, %v; want the shop app only", sub, err)
	}
}

func TestLoadErrors(t *testing.T) {
	big := "# " + strings.Repeat("x", 200) + "\n"
	tests := []struct {
		name  string
		fsys  fstest.MapFS
		dir   string
		opts  LoadOptions
		wants []string
	}{{
		name: "duplicate names and a broken application",
		fsys: fstest.MapFS{
			"a/Appfile":    file("name: shop\nservices: {web: {type: webservice}}\n"),
			"b/app.yaml":   file(kubeVela("shop")),
			"c/app.yaml":   file(kubeVela("other") + "  workflow: {steps: [{name: d, type: deploy, properties: {policies: [nope]}}]}\n"),
			"d/broken.yml": file("apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata: {name: x\n"),
			"e/Appfile":    file("# nothing yet\n"),
		},
		wants: []string{
			`b/app.yaml:1:1: application "shop" is already defined at a/Appfile:1:1`,
			`c/app.yaml:7:22: step "d": policy "nope" is not defined`,
			`d/broken.yml:3: invalid YAML: did not find expected ',' or '}'`,
			`e/Appfile: application file holds no application`,
		},
	}, {
		name: "oversized files that may be applications",
		fsys: fstest.MapFS{
			"Appfile":         file("name: big\n" + big),
			"apps/big.yaml":   file("apiVersion: core.oam.dev/v1beta1\n" + big),
			"crds/huge.yaml":  file("apiVersion: v1\n" + big),
			"apps/small.yaml": file(kubeVela("small")),
		},
		opts: LoadOptions{Parse: ParseOptions{MaxFileBytes: 200}},
		wants: []string{
			`Appfile: file is over the limit of 200 bytes`,
			`apps/big.yaml: file is over the limit of 200 bytes`,
		},
	}, {
		name:  "too many entries",
		fsys:  repo(),
		opts:  LoadOptions{MaxEntries: 5},
		wants: []string{`.: directory has more than 5 entries; stopped searching for applications`},
	}, {
		name: "too deep",
		fsys: fstest.MapFS{"a/b/c/d/Appfile": file("name: deep\nservices: {}\n")},
		opts: LoadOptions{MaxDepth: 2},
		wants: []string{
			`a/b/c: directory nests deeper than 2 levels below .; not searched`,
		},
	}, {
		name: "too many bytes",
		fsys: fstest.MapFS{
			"a.yaml": file(kubeVela("a")),
			"b.yaml": file(kubeVela("b")),
		},
		opts:  LoadOptions{MaxTotalBytes: 200},
		wants: []string{`b.yaml: read more than 200 bytes; stopped searching for applications`},
	}, {
		name: "too many nodes in all",
		fsys: fstest.MapFS{
			"a.yaml": file(kubeVela("a")),
			"b.yaml": file(kubeVela("b")),
		},
		opts:  LoadOptions{MaxTotalNodes: 30},
		wants: []string{`b.yaml: applications expand to more than 30 YAML nodes in all; stopped searching for applications`},
	}, {
		name:  "directory outside the tree",
		fsys:  repo(),
		dir:   "../etc",
		wants: []string{`../etc: directory is not a valid path inside the repository`},
	}, {
		name:  "missing directory",
		fsys:  repo(),
		dir:   "nope",
		wants: []string{`nope: cannot read: open nope: file does not exist`},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			apps, err := LoadWithOptions(tc.fsys, tc.dir, tc.opts)
			if apps != nil {
				t.Errorf("got applications with an error: %v", apps)
			}
			if diff := cmp.Diff(tc.wants, errorLines(t, err)); diff != "" {
				t.Errorf("errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLoadDoesNotFollowSymlinks uses a real directory, where a symbolic
// link could lead out of the repository.
func TestLoadDoesNotFollowSymlinks(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "app.yaml"), []byte(kubeVela("outside")), 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for name, target := range map[string]string{
		"linked.yaml": filepath.Join(outside, "app.yaml"),
		"linked-dir":  outside,
	} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Skipf("symlinks unavailable: %v", err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "app.yaml"), []byte(kubeVela("inside")), 0o644); err != nil {
		t.Fatal(err)
	}
	apps, err := Load(os.DirFS(root), ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 1 || apps[0].Name != "inside" {
		t.Errorf("got %d applications, want only %q", len(apps), "inside")
	}

	if err := os.Symlink(filepath.Join(outside, "app.yaml"), filepath.Join(root, "Appfile")); err != nil {
		t.Fatal(err)
	}
	_, err = Load(os.DirFS(root), ".")
	want := []string{`Appfile: application file is a symbolic link, which carina does not follow`}
	if diff := cmp.Diff(want, errorLines(t, err)); diff != "" {
		t.Errorf("errors mismatch (-want +got):\n%s", diff)
	}
}

var _ fs.FS = fstest.MapFS{}
