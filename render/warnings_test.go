package render

import (
	"strings"
	"testing"

	"github.com/carina-gitops/carina/appfile"
)

// TestKubeVelaLenientTraits: what KubeVela's renderer accepts renders, with
// a warning, and fails only with Strict: a trait outside its
// appliesToWorkloads and two traits that conflictsWith names. The same
// trait type twice is applied twice, in order.
func TestKubeVelaLenientTraits(t *testing.T) {
	reg := testRegistry(t, testDefs())
	root := repoFS(t)
	tests := []struct {
		name  string
		comps []appfile.Component
		warn  []string
	}{{
		name:  "trait not applicable to the workload",
		comps: []appfile.Component{comp("agent", "daemon", 4, web(), trait("labels", 8, map[string]any{"a": "b"}), trait("scaler", 9, map[string]any{"replicas": 2}))},
		warn:  []string{`component "agent": apps/shop/app.yaml:9:11: trait "scaler" does not apply to component type "daemon" (workload daemonsets.apps); it applies to`},
	}, {
		name:  "conflicting traits",
		comps: []appfile.Component{comp("web", "webservice", 4, web(), trait("labels", 9, map[string]any{"a": "b"}), trait("exclusive", 12, nil))},
		warn:  []string{`component "web": apps/shop/app.yaml:12:11: trait "exclusive" conflicts with trait "labels" (at apps/shop/app.yaml:9:11) on the same component`},
	}, {
		name:  "the same trait twice",
		comps: []appfile.Component{comp("web", "webservice", 4, web(), trait("labels", 9, map[string]any{"a": "1"}), trait("labels", 12, map[string]any{"b": "2"}))},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := &appfile.Application{Name: "shop", Dir: "apps/shop", Components: tt.comps, Pos: pos(1, 1)}
			env := appfile.Environment{Name: "default"}
			res, err := Render(t.Context(), app, env, reg, root.FS(), DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Warnings) != len(tt.warn) {
				t.Fatalf("warnings = %q, want %q", res.Warnings, tt.warn)
			}
			for i, w := range tt.warn {
				if !strings.HasPrefix(res.Warnings[i], w) {
					t.Errorf("warning %d = %q, want it to start with %q", i, res.Warnings[i], w)
				}
			}
			opts := DefaultOptions()
			opts.Strict = true
			_, err = Render(t.Context(), app, env, reg, root.FS(), opts)
			if len(tt.warn) == 0 {
				if err != nil {
					t.Errorf("strict render: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(tt.warn[0], `component "`+tt.comps[0].Name+`": `)) {
				t.Errorf("strict render error = %v, want the warning", err)
			}
		})
	}
	app := &appfile.Application{Name: "shop", Dir: "apps/shop", Pos: pos(1, 1), Components: tests[2].comps}
	res, err := Render(t.Context(), app, appfile.Environment{Name: "default"}, reg, root.FS(), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Objects {
		if o.Workload {
			if l := o.Object.GetLabels(); l["a"] != "1" || l["b"] != "2" {
				t.Errorf("labels = %v, want both labels traits applied", l)
			}
		}
	}
}
