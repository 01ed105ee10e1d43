package kubevela

import (
	"os"
	"strings"
	"testing"

	"github.com/carina-gitops/carina/capabilities"
)

// TestCorpusKubeVelaDefinitions renders every corpus Application with
// KubeVela's own definitions, unchanged, and compares each environment's
// objects with what vela dry-run --offline rendered (testdata/vela).
func TestCorpusKubeVelaDefinitions(t *testing.T) {
	runCorpus(t, corpusRun{
		reg:         corpusRegistry(t, false, kubevelaDefinitions),
		kubeVersion: "1.18",
	})
}

// TestKubeVelaDefinitionsThatCannotLoad: KubeVela's folder, recursive, as
// it is: the definitions Carina cannot run (imports of vela/*) are listed
// with their reason, an app that uses one fails naming it, and the others
// load (the corpus run above renders with the same registry).
func TestKubeVelaDefinitionsThatCannotLoad(t *testing.T) {
	reg := corpusRegistry(t, false, kubevelaDefinitions)
	broken := map[string]string{}
	for _, b := range reg.Broken() {
		broken[b.String()] = b.Problems[0].Msg
	}
	if want := `import "vela/helm" is not allowed: only the pure CUE standard library may be imported`; broken["component helmchart"] != want {
		t.Errorf("helmchart is broken with %q, want %q", broken["component helmchart"], want)
	}
	if len(broken) != 30 {
		t.Errorf("%d definitions cannot be loaded, want the 30 that import vela/*: %v", len(broken), broken)
	}
	for _, name := range []string{"workflow-step deploy", "component webservice", "trait gateway"} {
		if _, ok := broken[name]; ok != (name == "workflow-step deploy") {
			t.Errorf("%s broken = %v", name, ok)
		}
	}
	app := []byte(`apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: charts}
spec:
  components:
    - {name: redis, type: helmchart, properties: {chart: redis}}
    - {name: web, type: webservice, properties: {image: nginx}}
`)
	_, err := renderCarina(t, corpusRun{reg: reg, kubeVersion: "1.18"}, "charts.yaml", app)
	want := `component "redis": component helmchart cannot be loaded (../../../shared/kubevela/definitions/component/helmchart.cue): ../../../shared/kubevela/definitions/component/helmchart.cue:4:2: import "vela/helm" is not allowed`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error = %v, want it to contain %q", err, want)
	}
	if err != nil && strings.Contains(err.Error(), `component "web"`) {
		t.Errorf("the webservice component failed too: %v", err)
	}
}

// TestKubeVelaDefinitionsVet: `carina defs vet` of KubeVela's folder
// lists exactly the definitions that cannot be loaded (bug: it also
// listed ref-objects, expose, gateway and pure-ingress, whose status
// snippets branch on context fields that only exist at run time, as "does
// not compile").
func TestKubeVelaDefinitionsVet(t *testing.T) {
	reports := capabilities.VetReports(t.Context(), capabilities.Module{Source: capabilities.SourceCapability,
		Name: kubevelaDefinitions, FS: os.DirFS(kubevelaDefinitions), Dir: "."}, capabilities.DefaultOptions())
	broken := 0
	for _, r := range reports {
		if r.Broken {
			broken++
			continue
		}
		t.Errorf("%s loads but vet reports: %v", r, r.Problems)
	}
	if broken != 30 {
		t.Errorf("vet lists %d definitions that cannot be loaded, want the 30 that import vela/*", broken)
	}
}
