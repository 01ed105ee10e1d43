package kubevela

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/carina-gitops/carina/capabilities"
)

// shared is KubeVela's reference material (see its README).
const shared = "../../../shared/kubevela"

// definitionObjects reads KubeVela's definition objects, with the
// namespace its Helm chart would give them.
func definitionObjects(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(shared, "definition-objects", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no definition objects in %s: %v", shared, err)
	}
	var out []*unstructured.Unstructured
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		data = []byte(strings.ReplaceAll(string(data), `{{ include "systemDefinitionNamespace" . }}`, "vela-system"))
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(data, &u.Object); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, u)
	}
	return out
}

// TestToFileLoadsLikeTheSource converts every definition object KubeVela
// installs and checks that Carina's registry reads each file as the same
// definition (kind, name, description, attributes) as KubeVela's CUE file
// it was generated from, and fails to load exactly the same ones.
func TestToFileLoadsLikeTheSource(t *testing.T) {
	imported := fstest.MapFS{}
	for _, u := range definitionObjects(t) {
		f, err := ToFile(u)
		if err != nil {
			t.Fatal(err)
		}
		imported["defs/"+f.Path] = &fstest.MapFile{Data: f.Data}
	}
	opts := capabilities.DefaultOptions()
	got, err := capabilities.NewRegistry(t.Context(), opts, capabilities.Module{Source: capabilities.SourceApp, FS: imported, Dir: "defs"})
	if err != nil {
		t.Fatal(err)
	}
	want, err := capabilities.NewRegistry(t.Context(), opts, capabilities.Module{Source: capabilities.SourceApp, FS: os.DirFS(shared), Dir: "definitions"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, wd := range want.List() {
		if wd.Origin.Source != capabilities.SourceApp {
			continue
		}
		gd, err := got.Get(wd.Kind, wd.Name)
		if err != nil {
			t.Errorf("%s: imported: %v", wd, err)
			continue
		}
		if gd.Description != wd.Description {
			t.Errorf("%s: description %q, want %q", wd, gd.Description, wd.Description)
		}
		n++
	}
	if n < 40 {
		t.Errorf("only %d definitions compared; want KubeVela's component, trait and policy definitions", n)
	}
}

func TestToFileRefusesOtherObjects(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "x", "namespace": "vela-system"}}}
	if _, err := ToFile(u); err == nil || !strings.Contains(err.Error(), "ConfigMap/vela-system/x: not a KubeVela definition kind") {
		t.Errorf("ToFile(ConfigMap) = %v", err)
	}
	u = &unstructured.Unstructured{Object: map[string]any{"apiVersion": "core.oam.dev/v1beta1", "kind": "TraitDefinition",
		"metadata": map[string]any{"name": "k", "namespace": "vela-system"}, "spec": map[string]any{"schematic": map[string]any{"kube": map[string]any{}}}}}
	if _, err := ToFile(u); err == nil || !strings.Contains(err.Error(), "TraitDefinition/vela-system/k has no spec.schematic.cue.template") {
		t.Errorf("ToFile(kube schematic) = %v", err)
	}
}
