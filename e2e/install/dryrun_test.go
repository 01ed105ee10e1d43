package install

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
)

// promOperator is the prometheus-operator module whose CRD manifests the
// ServiceMonitor and PrometheusRule are checked against; the Go module
// proxy serves it and go mod download verifies it against the checksum
// database.
const promOperator = "github.com/prometheus-operator/prometheus-operator@v0.85.0"

// installMonitoringCRDs applies the ServiceMonitor and PrometheusRule
// CRDs from the prometheus-operator module (module cache, else proxy).
func installMonitoringCRDs(t *testing.T) {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", promOperator)
	cmd.Dir = t.TempDir() // outside this module: no go.mod change
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v\n%s", promOperator, err, out)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download %s: %v %s", promOperator, err, mod.Error)
	}
	for _, crd := range []string{"monitoring.coreos.com_servicemonitors.yaml", "monitoring.coreos.com_prometheusrules.yaml"} {
		mustKubectl(t, nil, "apply", "--server-side", "-f", filepath.Join(mod.Dir, "example", "prometheus-operator-crd", crd))
	}
	mustKubectl(t, nil, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com")
}

// TestManifestsServerDryRun: the API server accepts every object of the
// kustomize base, each overlay, and the chart with its default, HA and
// tenants values (kubectl apply --server-side --dry-run=server).
func TestManifestsServerDryRun(t *testing.T) {
	needCluster(t)
	installMonitoringCRDs(t)
	// A dry run creates no namespace, so the namespaced objects need
	// theirs to exist.
	for _, ns := range []string{"carina-system", "tenant-a"} {
		mustKubectl(t, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: "+ns+"}\n"), "apply", "--server-side", "-f", "-")
	}
	manifests := map[string][]byte{}
	for _, dir := range kustomizations {
		manifests[dir] = kustomize(t, dir)
	}
	for name, file := range chartValueSets {
		var vals map[string]any
		if file != "" {
			vals = valuesFile(t, file)
		}
		manifests["chart "+name] = mustRender(t, vals)
	}
	for name, m := range manifests {
		t.Run(name, func(t *testing.T) {
			out, err := kubectl(t, m, "apply", "--server-side", "--dry-run=server", "--field-manager=carina-install-test", "-f", "-")
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			t.Logf("\n%s", out)
		})
	}
}
