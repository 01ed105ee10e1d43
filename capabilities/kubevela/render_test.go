package kubevela

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/capabilities"
	"github.com/carina-gitops/carina/render"
)

// corpus is the KubeVela compatibility corpus (e2e/kubevela).
const corpus = "../../e2e/kubevela/testdata"

// TestImportedRenderLikeTheSource: the files written from KubeVela's
// definition objects render every corpus Application into the same
// objects as KubeVela's CUE files they were generated from (or fail for
// both).
func TestImportedRenderLikeTheSource(t *testing.T) {
	imported := fstest.MapFS{}
	for _, u := range definitionObjects(t) {
		f, err := ToFile(u)
		if err != nil {
			t.Fatal(err)
		}
		imported["defs/"+f.Path] = &fstest.MapFile{Data: f.Data}
	}
	opts := capabilities.DefaultOptions()
	opts.Builtin = false
	extra := capabilities.Module{Source: capabilities.SourceCapability, Name: "corpus", FS: os.DirFS(filepath.Join(corpus, "definitions")), Dir: "."}
	got, err := capabilities.NewRegistry(t.Context(), opts, capabilities.Module{Source: capabilities.SourceApp, FS: imported, Dir: "defs"}, extra)
	if err != nil {
		t.Fatal(err)
	}
	want, err := capabilities.NewRegistry(t.Context(), opts, capabilities.Module{Source: capabilities.SourceApp, FS: os.DirFS(shared), Dir: "definitions"}, extra)
	if err != nil {
		t.Fatal(err)
	}
	apps, err := filepath.Glob(filepath.Join(corpus, "apps", "*.yaml"))
	if err != nil || len(apps) < 40 {
		t.Fatalf("corpus: %d apps, %v", len(apps), err)
	}
	rendered := 0
	for _, path := range apps {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		w, werr := renderAll(t, want, path, data)
		g, gerr := renderAll(t, got, path, data)
		switch {
		case (werr == nil) != (gerr == nil):
			t.Errorf("%s: source definitions: %v; imported: %v", path, werr, gerr)
		case werr == nil:
			rendered++
			if diff := cmp.Diff(w, g); diff != "" {
				t.Errorf("%s (-source +imported):\n%s", path, diff)
			}
		}
	}
	if rendered < 30 {
		t.Errorf("only %d apps rendered", rendered)
	}
}

// renderAll renders every environment of an app: env -> objects.
func renderAll(t *testing.T, reg *capabilities.Registry, path string, data []byte) (map[string][]map[string]any, error) {
	t.Helper()
	app, err := appfile.Parse(filepath.Base(path), data)
	if err != nil {
		return nil, err
	}
	app.Dir = "."
	envs, err := appfile.Environments(app)
	if err != nil {
		return nil, err
	}
	opts := render.DefaultOptions()
	opts.KubeVersion = "1.18"
	out := map[string][]map[string]any{}
	for _, env := range envs {
		res, err := render.Render(t.Context(), app, env, reg, os.DirFS(corpus), opts)
		if err != nil {
			return nil, err
		}
		for _, o := range res.Objects {
			out[env.Name] = append(out[env.Name], o.Object.Object)
		}
	}
	return out, nil
}
