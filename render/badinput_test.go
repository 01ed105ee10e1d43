package render

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/capabilities"
)

// testDefs is the module of definitions made for bad-input tests.
func testDefs() capabilities.Module {
	return capabilities.Module{Source: capabilities.SourceApp, FS: os.DirFS("testdata"), Dir: "defs", Name: "testdata"}
}

func pos(line, col int) appfile.Position {
	return appfile.Position{File: "apps/shop/app.yaml", Line: line, Col: col}
}

func comp(name, typ string, line int, props map[string]any, traits ...appfile.Trait) appfile.Component {
	return appfile.Component{Name: name, Type: typ, Properties: props, Traits: traits, Pos: pos(line, 7)}
}

func trait(typ string, line int, props map[string]any) appfile.Trait {
	return appfile.Trait{Type: typ, Properties: props, Pos: pos(line, 11)}
}

func web(props ...map[string]any) map[string]any {
	p := map[string]any{"image": "nginx:1.27"}
	for _, m := range props {
		for k, v := range m {
			p[k] = v
		}
	}
	return p
}

func TestBadInput(t *testing.T) {
	reg := testRegistry(t, testDefs())
	tests := []struct {
		name  string
		comps []appfile.Component
		want  []string
	}{{
		name:  "unknown component type",
		comps: []appfile.Component{comp("web", "webservise", 4, web())},
		want:  []string{"apps/shop/app.yaml:4:7", `component "web"`, `component type "webservise" is not defined`},
	}, {
		name:  "unknown trait type",
		comps: []appfile.Component{comp("web", "webservice", 4, web(), trait("scalar", 9, nil))},
		want:  []string{"apps/shop/app.yaml:9:11", `trait "scalar"`, `trait type "scalar" is not defined`},
	}, {
		name:  "parameter of the wrong type",
		comps: []appfile.Component{comp("web", "webservice", 4, web(map[string]any{"cpu": 2}))},
		want:  []string{"apps/shop/app.yaml:4:7", "component webservice", `parameter "cpu"`, "mismatched types", "builtin/component/webservice.cue:"},
	}, {
		name:  "missing required parameter",
		comps: []appfile.Component{comp("web", "webservice", 4, nil)},
		want:  []string{"apps/shop/app.yaml:4:7", "component webservice", `parameter "image"`, "is required", "builtin/component/webservice.cue:"},
	}, {
		name:  "wrong trait parameter",
		comps: []appfile.Component{comp("web", "webservice", 4, web(), trait("scaler", 9, map[string]any{"replicas": "three"}))},
		want:  []string{"apps/shop/app.yaml:9:11", "trait scaler", `parameter "replicas"`, "builtin/trait/scaler.cue:"},
	}, {
		name:  "errs non-empty",
		comps: []appfile.Component{comp("web", "webservice", 4, web(), trait("expose", 9, nil))},
		want:  []string{"apps/shop/app.yaml:9:11", "trait expose: expose needs port or ports", "builtin/trait/expose.cue:"},
	}, {
		name:  "self-recursive structure",
		comps: []appfile.Component{comp("loop", "cycle", 4, nil)},
		want:  []string{"apps/shop/app.yaml:4:7", "component cycle", "structural cycle", "testdata/defs/cycle.cue:"},
	}, {
		name:  "two components render the same object",
		comps: []appfile.Component{comp("a", "twin", 4, nil), comp("b", "twin", 8, nil)},
		want:  []string{`ConfigMap/default/shared is rendered twice: by component "a" (component twin) and by component "b" (component twin)`},
	}, {
		name:  "manifests path out of the repository",
		comps: []appfile.Component{comp("plain", "manifests", 4, map[string]any{"path": "../../../etc"})},
		want:  []string{`path "../../../etc" escapes the repository root`},
	}, {
		name: "every component error is reported",
		comps: []appfile.Component{
			comp("a", "webservice", 4, nil),
			comp("b", "nope", 8, nil),
		},
		want: []string{`component "a"`, `parameter "image"`, `component "b"`, `component type "nope"`},
	}}
	root := repoFS(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := &appfile.Application{Name: "shop", Dir: "apps/shop", Components: tt.comps, Pos: pos(1, 1)}
			res, err := Render(t.Context(), app, appfile.Environment{Name: "default"}, reg, root.FS(), DefaultOptions())
			if err == nil {
				t.Fatal("want an error")
			}
			if res != nil {
				t.Errorf("a failed render returned a result with %d objects", len(res.Objects))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestRunawayTemplate checks that a template that does not terminate is
// stopped at the caller's deadline and that the next render still works.
func TestRunawayTemplate(t *testing.T) {
	reg := testRegistry(t, testDefs())
	root := repoFS(t)
	app := &appfile.Application{Name: "shop", Components: []appfile.Component{comp("spin", "spin", 4, nil)}}
	opts := DefaultOptions()
	opts.Timeout = 300 * time.Millisecond
	start := time.Now()
	res, err := Render(t.Context(), app, appfile.Environment{Name: "default"}, reg, root.FS(), opts)
	if !errors.Is(err, context.DeadlineExceeded) || res != nil {
		t.Fatalf("Render = %v, %v; want no result and a deadline error", res, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Render returned after %v, want about the 300ms timeout", d)
	}
	ok := &appfile.Application{Name: "shop", Components: []appfile.Component{comp("web", "webservice", 4, web())}}
	res, err = Render(t.Context(), ok, appfile.Environment{Name: "default"}, reg, root.FS(), DefaultOptions())
	if err != nil || len(res.Objects) != 1 {
		t.Fatalf("the render after a runaway one = %v, %v; want one object", res, err)
	}
}

func TestEmptyRender(t *testing.T) {
	reg := testRegistry(t, testDefs())
	root := repoFS(t)
	app := &appfile.Application{Name: "shop", Components: []appfile.Component{comp("none", "nothing", 4, nil)}}
	if _, err := Render(t.Context(), app, appfile.Environment{Name: "default"}, reg, root.FS(), DefaultOptions()); !errors.Is(err, ErrEmpty) {
		t.Fatalf("error = %v, want ErrEmpty", err)
	}
	app.AllowEmpty = true
	res, err := Render(t.Context(), app, appfile.Environment{Name: "default"}, reg, root.FS(), DefaultOptions())
	if err != nil || len(res.Objects) != 0 || res.Digest == "" {
		t.Fatalf("allowEmpty render = %+v, %v; want an empty result with a digest", res, err)
	}
}

func TestBudgets(t *testing.T) {
	reg := testRegistry(t, testDefs())
	root := repoFS(t)
	tests := []struct {
		name  string
		props map[string]any
		opts  func(*Options)
		what  string
	}{
		{"objects", map[string]any{"count": 20}, func(o *Options) { o.MaxObjects = 10 }, "objects"},
		{"output bytes", map[string]any{"count": 4, "size": 4096}, func(o *Options) { o.MaxOutputBytes = 8192 }, "output bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := DefaultOptions()
			tt.opts(&opts)
			app := &appfile.Application{Name: "shop", Components: []appfile.Component{comp("m", "many", 4, tt.props)}}
			res, err := Render(t.Context(), app, appfile.Environment{Name: "default"}, reg, root.FS(), opts)
			var be *BudgetError
			if !errors.As(err, &be) || be.What != tt.what || res != nil {
				t.Fatalf("Render = %v, %v; want a %s budget error and no result", res, err, tt.what)
			}
		})
	}
}

// TestManifestsBadFiles covers the YAML the manifests engine refuses.
func TestManifestsBadFiles(t *testing.T) {
	bomb := "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n" +
		"b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n" +
		"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n" +
		"f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n" +
		"h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n" +
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\n"
	if len(bomb) > 1024 {
		t.Fatalf("the bomb is %d bytes, want at most 1 KiB", len(bomb))
	}
	fsys := fstest.MapFS{
		"app/bomb.yaml":     {Data: []byte(bomb)},
		"app/scalar.yaml":   {Data: []byte("just a string\n")},
		"app/broken.yaml":   {Data: []byte("apiVersion: v1\nkind: [\n")},
		"app/big/big.yaml":  {Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata: {x: " + strings.Repeat("y", 2048) + "}\n")},
		"app/empty/x.txt":   {Data: []byte("no yaml here")},
		"app/nokind.yaml":   {Data: []byte("apiVersion: v1\nmetadata: {name: x}\n")},
		"app/list/ok.yaml":  {Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n")},
		"app/list/bad.yaml": {Data: []byte("apiVersion: v1\nkind: List\nitems: [1]\n")},
	}
	reg := testRegistry(t)
	tests := []struct {
		path string
		want string
	}{
		{"bomb.yaml", "expands to more than"},
		{"scalar.yaml", "a document must be a Kubernetes object"},
		{"broken.yaml", "app/broken.yaml"},
		{"big", "file is larger than 1024 bytes"},
		{"empty", "holds no objects"},
		{"nokind.yaml", "has no apiVersion or kind"},
		{"list", "item 0 of the List is not an object"},
		{"missing", "manifests path app/missing"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			opts := DefaultOptions()
			opts.Manifests.MaxFileBytes = 1024
			opts.Manifests.MaxNodes = 10000
			app := &appfile.Application{Name: "shop", Dir: "app", Components: []appfile.Component{comp("m", "manifests", 4, map[string]any{"path": tt.path})}}
			res, err := Render(t.Context(), app, appfile.Environment{Name: "default"}, reg, fsys, opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) || res != nil {
				t.Fatalf("Render = %v, %v; want an error containing %q", res, err, tt.want)
			}
		})
	}
}

// TestManifestsSymlinkOutOfRepo reads through os.Root, as the CLI and the
// agent do: a symlink that leaves the repository is refused.
func TestManifestsSymlinkOutOfRepo(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.yaml"), []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "app", "linked")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	reg := testRegistry(t)
	app := &appfile.Application{Name: "shop", Dir: "app", Components: []appfile.Component{comp("m", "manifests", 4, map[string]any{"path": "linked"})}}
	res, err := Render(t.Context(), app, appfile.Environment{Name: "default"}, reg, root.FS(), DefaultOptions())
	if err == nil || res != nil {
		t.Fatalf("Render = %v, %v; want the symlink out of the repository refused", res, err)
	}
}
