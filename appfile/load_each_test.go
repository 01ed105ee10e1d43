package appfile

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// loadedView is what a test compares of a Loaded.
type loadedView struct {
	Apps   []string // name@file
	Errors []string
	Broken []string
}

func viewOf(l *Loaded) loadedView {
	v := loadedView{Broken: l.Broken}
	for _, a := range l.Apps {
		v.Apps = append(v.Apps, a.Name+"@"+a.Pos.File)
	}
	for _, e := range l.Errors {
		v.Errors = append(v.Errors, e.Error())
	}
	return v
}

func TestLoadEachIsolatesBrokenFiles(t *testing.T) {
	withBroken := func(files map[string]string) fstest.MapFS {
		fsys := repo()
		for p, data := range files {
			fsys[p] = file(data)
		}
		return fsys
	}
	tests := []struct {
		name string
		fsys fstest.MapFS
		opts LoadOptions
		want loadedView
	}{{
		name: "a clean tree loads as Load does",
		fsys: repo(),
		want: loadedView{Apps: []string{"alpha@apps/pair.yml", "api@apps/api/app.yaml", "beta@apps/pair.yml", "shop@apps/shop/Appfile"}},
	}, {
		name: "a broken Appfile costs only its app",
		fsys: withBroken(map[string]string{"apps/blog/Appfile": "name: blog\nservices:\n  cfg: [not, a, mapping]\n"}),
		want: loadedView{
			Apps: []string{"alpha@apps/pair.yml", "api@apps/api/app.yaml", "beta@apps/pair.yml", "shop@apps/shop/Appfile"},
			Errors: []string{
				`apps/blog/Appfile:3:3: component "cfg": type is required`,
				`apps/blog/Appfile:3:8: service "cfg" must be a mapping, got a list`,
			},
			Broken: []string{"apps/blog/Appfile"},
		},
	}, {
		name: "one bad document costs every app of its file",
		fsys: withBroken(map[string]string{"apps/pair.yml": kubeVela("beta") + "---\n" + kubeVela("alpha") + "  workflow: {steps: [{name: d, type: deploy, properties: {policies: [nope]}}]}\n"}),
		want: loadedView{
			Apps:   []string{"api@apps/api/app.yaml", "shop@apps/shop/Appfile"},
			Errors: []string{`apps/pair.yml:14:22: step "d": policy "nope" is not defined`},
			Broken: []string{"apps/pair.yml"},
		},
	}, {
		name: "a name defined twice breaks both files",
		fsys: withBroken(map[string]string{"apps/shop2/app.yaml": kubeVela("shop")}),
		want: loadedView{
			Apps: []string{"alpha@apps/pair.yml", "api@apps/api/app.yaml", "beta@apps/pair.yml"},
			Errors: []string{
				`apps/shop/Appfile:1:1: application "shop" is also defined at apps/shop2/app.yaml:1:1`,
				`apps/shop2/app.yaml:1:1: application "shop" is also defined at apps/shop/Appfile:1:1`,
			},
			Broken: []string{"apps/shop/Appfile", "apps/shop2/app.yaml"},
		},
	}, {
		name: "an empty Appfile, invalid YAML and an oversized Appfile",
		fsys: withBroken(map[string]string{
			"apps/new/Appfile":     "# nothing yet\n",
			"apps/bad/app.yaml":    "apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata: {name: x\n",
			"apps/big/Appfile.yml": "name: big\n# " + strings.Repeat("x", 400) + "\n",
		}),
		opts: LoadOptions{Parse: ParseOptions{MaxFileBytes: 300}},
		want: loadedView{
			Apps: []string{"alpha@apps/pair.yml", "api@apps/api/app.yaml", "beta@apps/pair.yml", "shop@apps/shop/Appfile"},
			Errors: []string{
				`apps/bad/app.yaml:3: invalid YAML: did not find expected ',' or '}'`,
				`apps/big/Appfile.yml: file is over the limit of 300 bytes`,
				`apps/new/Appfile: application file holds no application`,
			},
			Broken: []string{"apps/bad/app.yaml", "apps/big/Appfile.yml", "apps/new/Appfile"},
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := LoadEach(tc.fsys, ".", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, viewOf(l)); diff != "" {
				t.Errorf("LoadEach (-want +got):\n%s", diff)
			}
			for _, a := range l.Apps {
				if a.Dir != filepath.Dir(a.Pos.File) {
					t.Errorf("app %s: Dir %q, file %q", a.Name, a.Dir, a.Pos.File)
				}
			}
		})
	}
}

// TestLoadEachFailsIncompleteWalks: when a part of the tree was not
// searched, an absent application may only be unseen, so there is no
// result at all.
func TestLoadEachFailsIncompleteWalks(t *testing.T) {
	broken := fstest.MapFS{"z/Appfile": file("name: z\nservices: [x]\n")}
	withBroken := func(fsys fstest.MapFS) fstest.MapFS {
		for p, f := range broken {
			fsys[p] = f
		}
		return fsys
	}
	tests := []struct {
		name  string
		fsys  fstest.MapFS
		dir   string
		opts  LoadOptions
		wants []string
	}{{
		name:  "too many entries",
		fsys:  repo(),
		opts:  LoadOptions{MaxEntries: 5},
		wants: []string{`.: directory has more than 5 entries; stopped searching for applications`},
	}, {
		name: "too deep, with a broken file too",
		fsys: withBroken(fstest.MapFS{"a/b/c/d/Appfile": file("name: deep\nservices: {}\n")}),
		opts: LoadOptions{MaxDepth: 2},
		wants: []string{
			`a/b/c: directory nests deeper than 2 levels below .; not searched`,
			`z/Appfile:2:11: services must be a mapping, got a list`,
		},
	}, {
		name:  "too many bytes",
		fsys:  fstest.MapFS{"a.yaml": file(kubeVela("a")), "b.yaml": file(kubeVela("b"))},
		opts:  LoadOptions{MaxTotalBytes: 200},
		wants: []string{`b.yaml: read more than 200 bytes; stopped searching for applications`},
	}, {
		name:  "too many nodes in all",
		fsys:  fstest.MapFS{"a.yaml": file(kubeVela("a")), "b.yaml": file(kubeVela("b"))},
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
			l, err := LoadEach(tc.fsys, tc.dir, tc.opts)
			if l != nil {
				t.Errorf("got a result with an incomplete walk: %+v", viewOf(l))
			}
			if diff := cmp.Diff(tc.wants, errorLines(t, err)); diff != "" {
				t.Errorf("errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLoadEachSymlinkedAppfile: an Appfile that is a symbolic link is a
// broken file, not a hole in the walk.
func TestLoadEachSymlinkedAppfile(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "linked"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/hostname", filepath.Join(root, "linked", "Appfile")); err != nil {
		t.Skipf("symlinks unavailable: %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, "app.yaml"), []byte(kubeVela("inside")), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := LoadEach(os.DirFS(root), ".", DefaultLoadOptions())
	if err != nil {
		t.Fatal(err)
	}
	want := loadedView{
		Apps:   []string{"inside@app.yaml"},
		Errors: []string{`linked/Appfile: application file is a symbolic link, which carina does not follow`},
		Broken: []string{"linked/Appfile"},
	}
	if diff := cmp.Diff(want, viewOf(l)); diff != "" {
		t.Errorf("LoadEach (-want +got):\n%s", diff)
	}
}

// fixedApp is the application FuzzLoadEach keeps next to the input.
const fixedApp = "name: fixed\nservices:\n  web: {type: webservice, image: x}\n"

// FuzzLoadEach checks LoadEach against Load on a tree holding the input
// twice next to a good Appfile: it never panics, a result has every
// error in a broken file and no app from one, a tree Load accepts gives
// the same apps and no error, a tree Load refuses gives errors or none
// at all, and the good Appfile survives any broken input.
func FuzzLoadEach(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{
			"apps/a/Appfile":   &fstest.MapFile{Data: data},
			"apps/b/some.yaml": &fstest.MapFile{Data: data},
			"apps/c/Appfile":   &fstest.MapFile{Data: []byte(fixedApp)},
		}
		apps, loadErr := Load(fsys, ".")
		l, err := LoadEach(fsys, ".", DefaultLoadOptions())
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 || loadErr == nil {
				t.Fatalf("LoadEach failed with %v where Load gave %v", err, loadErr)
			}
			return
		}
		for _, e := range l.Errors {
			if !slices.Contains(l.Broken, e.Pos.File) {
				t.Fatalf("error in %q, which is not listed as broken %v", e.Pos.File, l.Broken)
			}
		}
		for _, a := range l.Apps {
			if slices.Contains(l.Broken, a.Pos.File) {
				t.Fatalf("app %q from broken file %s", a.Name, a.Pos.File)
			}
			checkAccepted(t, a, DefaultParseOptions())
		}
		if loadErr == nil {
			if len(l.Errors) > 0 || len(l.Apps) != len(apps) {
				t.Fatalf("Load accepted %d apps, LoadEach %d with errors %v", len(apps), len(l.Apps), l.Errors)
			}
			return
		}
		if len(l.Errors) == 0 {
			t.Fatalf("Load refused the tree (%v), LoadEach found no error", loadErr)
		}
		if !slices.Contains(l.Broken, "apps/c/Appfile") && !slices.ContainsFunc(l.Apps, func(a *Application) bool { return a.Name == "fixed" }) {
			t.Fatalf("the good Appfile's app is missing: %+v", viewOf(l))
		}
	})
}
