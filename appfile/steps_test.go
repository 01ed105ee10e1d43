package appfile

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestKubeVelaStepsMapOntoNativeSteps: notification and webhook become
// notify steps; a step type Carina does not run is refused at load time,
// naming the step and its type.
func TestKubeVelaStepsMapOntoNativeSteps(t *testing.T) {
	app, err := Parse("a.yaml", []byte(`apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: shop}
spec:
  components: [{name: web, type: webservice}]
  workflow:
    steps:
      - {name: deploy, type: deploy}
      - name: tell
        type: notification
        properties:
          slack: {url: {value: "https://hooks.example/s"}, message: {text: "deployed"}}
      - name: hook
        type: webhook
        properties:
          url: {value: "https://hooks.example/w"}
          data: {a: 1}
      - name: group
        type: step-group
        subSteps:
          - {name: wait, type: suspend}
          - {name: dep, type: depends-on-app, properties: {name: db}}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for _, s := range app.Workflow.Steps {
		got[s.Name] = []any{s.Type, s.Properties}
	}
	want := map[string]any{
		"deploy": []any{"deploy", map[string]any(nil)},
		"tell":   []any{"notify", map[string]any{"url": "https://hooks.example/s", "message": "deployed"}},
		"hook":   []any{"notify", map[string]any{"url": "https://hooks.example/w", "message": `{"a":1}`}},
		"group":  []any{"step-group", map[string]any(nil)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}

	_, err = Parse("b.yaml", []byte(`apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: shop}
spec:
  components: [{name: web, type: webservice}]
  workflow:
    steps:
      - {name: deploy, type: deploy}
      - {name: sql, type: apply-terraform-config}
      - name: tell
        type: webhook
        properties: {url: {secretRef: {name: s, key: k}}}
`))
	for _, want := range []string{
		`b.yaml:9:9: step "sql": type "apply-terraform-config" is not supported`,
		`b.yaml:10:9: step "tell" (webhook): url secretRef is not supported; give url.value`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want it to contain %q", err, want)
		}
	}
}
