package install

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated copies under deploy/")

// generatedCopies maps each generated file under deploy/ to its content:
// kustomize and Helm read only files inside their own directory, so the
// monitoring files are copied there from deploy/prometheus and
// deploy/grafana, their one source.
func generatedCopies(t testing.TB) map[string][]byte {
	rules := readRepoFile(t, "deploy/prometheus/rules.yaml")
	dash := readRepoFile(t, "deploy/grafana/carina.json")
	return map[string][]byte{
		"deploy/kustomize/components/monitoring/prometheusrule.yaml": prometheusRule(rules),
		"deploy/kustomize/components/monitoring/carina.json":         dash,
		"deploy/helm/carina/files/rules.yaml":                        rules,
		"deploy/helm/carina/files/carina.json":                       dash,
	}
}

// prometheusRule wraps a Prometheus rules file into a PrometheusRule.
func prometheusRule(rules []byte) []byte {
	var b bytes.Buffer
	b.WriteString(`# Generated from deploy/prometheus/rules.yaml; do not edit. Regenerate with
#   go test ./e2e/install -run TestGeneratedCopies -update
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: carina-agent
  namespace: carina-system
  labels: {app.kubernetes.io/component: agent}
spec:
`)
	for line := range strings.Lines(string(rules)) {
		if strings.TrimSpace(line) != "" {
			b.WriteString("  ")
		}
		b.WriteString(line)
	}
	return b.Bytes()
}

// TestGeneratedCopies fails when a copy under deploy/ is stale; -update
// rewrites them.
func TestGeneratedCopies(t *testing.T) {
	for path, want := range generatedCopies(t) {
		if *update {
			if err := os.WriteFile(repoPath(path), want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(repoPath(path))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is stale (%v): run go test ./e2e/install -run TestGeneratedCopies -update", path, err)
		}
	}
}
