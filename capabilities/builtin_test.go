package capabilities

import (
	"testing"
)

func TestBuiltinLibraryVetsClean(t *testing.T) {
	if probs := Vet(t.Context(), BuiltinModule(), DefaultOptions()); len(probs) > 0 {
		t.Fatalf("built-in library has problems:\n%v", probs)
	}
}

// TestBuiltinLibraryIsComplete pins the set of built-in definitions that
// issue 4 asks for.
func TestBuiltinLibraryIsComplete(t *testing.T) {
	reg, err := NewRegistry(t.Context(), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	want := map[Kind][]string{
		KindComponent: {"webservice", "worker", "task", "cron-task", "daemon", "statefulset", "k8s-objects", "manifests", "helm", "kustomize"},
		KindTrait: {"scaler", "hpa", "expose", "gateway", "env", "labels", "annotations", "sidecar", "init-container",
			"storage", "resource", "affinity", "service-account", "command", "container-image", "securitycontext",
			"json-patch", "json-merge-patch", "startup-probe", "service-binding", "podsecuritycontext", "k8s-update-strategy",
			"lifecycle", "container-ports", "hostalias", "topologyspreadconstraints", "pure-ingress", "cpuscaler", "nocalhost"},
		KindPolicy: {"topology", "override", "apply-once", "garbage-collect", "shared-resource", "read-only", "take-over", "drift", "resource-update", "replication", "preview"},
	}
	for kind, names := range want {
		for _, name := range names {
			d, err := reg.Get(kind, name)
			if err != nil {
				t.Errorf("%s %s: %v", kind, name, err)
				continue
			}
			if d.Origin.Source != SourceBuiltin || d.Origin.Revision == "" {
				t.Errorf("%s origin = %+v, want builtin with a revision", d, d.Origin)
			}
			if d.Description == "" {
				t.Errorf("%s has no description", d)
			}
		}
	}
}

// TestBuiltinParametersAreDocumented checks that every parameter, nested
// ones included, of every built-in definition has a description, so that
// carina defs show documents all of them.
func TestBuiltinParametersAreDocumented(t *testing.T) {
	reg, err := NewRegistry(t.Context(), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range reg.List() {
		params, err := d.Parameters(t.Context())
		if err != nil {
			t.Errorf("%s: %v", d, err)
			continue
		}
		var walk func(prefix string, ps []Param)
		walk = func(prefix string, ps []Param) {
			for _, p := range ps {
				if p.Description == "" {
					t.Errorf("%s: parameter %s%s has no description", d, prefix, p.Name)
				}
				walk(prefix+p.Name+".", p.Fields)
			}
		}
		walk("", params)
	}
}
