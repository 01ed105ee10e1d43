package render

import (
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/capabilities"
)

// routeDefs are traits with status snippets: route's read parameter,
// note's do not.
var routeDefs = fstest.MapFS{
	"defs/route.cue": {Data: []byte(`route: {
	type: "trait"
	attributes: status: healthPolicy: "isHealth: context.outputs[\"route-\" + parameter.host] != _|_"
}
template: {
	outputs: "route-\(parameter.host)": {
		apiVersion: "v1"
		kind:       "ConfigMap"
		metadata: name: "\(context.name)-\(parameter.host)"
	}
	parameter: host: string
}
`)},
	"defs/note.cue": {Data: []byte(`note: {
	type: "trait"
	attributes: status: customStatus: "message: \"noted\""
}
template: {
	outputs: note: {
		apiVersion: "v1"
		kind:       "ConfigMap"
		metadata: name: "\(context.name)-note"
	}
	parameter: text: *"" | string
}
`)},
}

// TestStatusParameter: an object carries the properties of the trait
// that rendered it, each instance its own, when the trait's status
// snippets read parameter, and none otherwise.
func TestStatusParameter(t *testing.T) {
	reg := testRegistry(t, testDefs(), capabilities.Module{Source: capabilities.SourceCapability, Name: "routes", FS: routeDefs, Dir: "defs"})
	app := &appfile.Application{Name: "shop", Dir: "apps/shop", Pos: pos(1, 1), Components: []appfile.Component{
		comp("web", "webservice", 4, web(),
			trait("route", 8, map[string]any{"host": "a"}),
			trait("note", 9, map[string]any{"text": "x"}),
			trait("route", 10, map[string]any{"host": "b"})),
	}}
	res, err := Render(t.Context(), app, appfile.Environment{Name: "default"}, reg, repoFS(t).FS(), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]any{}
	for _, o := range res.Objects {
		if o.Trait != "" {
			got[o.Object.GetName()] = o.Parameter
		}
	}
	want := map[string]map[string]any{
		"web-a":    {"host": "a"},
		"web-b":    {"host": "b"},
		"web-note": nil,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parameters by object (-want +got):\n%s", diff)
	}
}
