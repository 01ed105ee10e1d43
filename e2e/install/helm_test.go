package install

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"sigs.k8s.io/yaml"
)

const chartDir = "deploy/helm/carina"

// valuesFile reads a values file of the repository.
func valuesFile(t testing.TB, rel string) map[string]any {
	t.Helper()
	v, err := chartutil.ReadValues(readRepoFile(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// renderChart renders the chart as `helm template carina -n carina-system`
// does, with the Helm SDK, checking values.schema.json on the way.
func renderChart(t testing.TB, vals map[string]any) ([]byte, error) {
	t.Helper()
	c, err := loader.Load(repoPath(chartDir))
	if err != nil {
		t.Fatal(err)
	}
	return renderLoaded(c, vals)
}

func renderLoaded(c *chart.Chart, vals map[string]any) ([]byte, error) {
	rv, err := chartutil.ToRenderValues(c, vals, chartutil.ReleaseOptions{
		Name: "carina", Namespace: "carina-system", IsInstall: true, Revision: 1,
	}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(c, rv)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if !strings.HasSuffix(name, ".yaml") || strings.TrimSpace(files[name]) == "" {
			continue
		}
		b.WriteString("---\n# Source: " + name + "\n" + files[name] + "\n")
	}
	return []byte(b.String()), nil
}

func mustRender(t testing.TB, vals map[string]any) []byte {
	t.Helper()
	out, err := renderChart(t, vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return out
}

// chartValueSets are the values files the chart is installed with in
// the tests and the docs.
var chartValueSets = map[string]string{
	"defaults": "",
	"ha":       "deploy/helm/ha-values.yaml",
	"tenants":  "deploy/helm/tenants-values.yaml",
}

func TestChartLints(t *testing.T) {
	for name, file := range chartValueSets {
		t.Run(name, func(t *testing.T) {
			var vals map[string]any
			if file != "" {
				vals = valuesFile(t, file)
			}
			res := lint.All(repoPath(chartDir), vals, "carina-system", false)
			for _, m := range res.Messages {
				if m.Severity > support.InfoSev {
					t.Errorf("lint: %s", m)
				} else {
					t.Logf("lint: %s", m)
				}
			}
		})
	}
}

// TestChartSchemaRejects: wrong values fail the render with a message
// naming the value and what is wrong with it.
func TestChartSchemaRejects(t *testing.T) {
	for _, tc := range []struct {
		name, values string
		want         []string
	}{
		{"replicas as text", "replicaCount: two", []string{"replicaCount", "integer"}},
		{"no replicas", "replicaCount: 0", []string{"replicaCount", "minimum"}},
		{"unknown profile", "rbac: {profile: admin}", []string{"rbac", "profile", "cluster-wide"}},
		{"misspelt knob", "replicas: 2", []string{"replicas", "additional"}},
		{"bad log format", "logFormat: xml", []string{"logFormat"}},
		{"file URLs", "config: {sources: {apps: []}, clusters: [{name: a, inCluster: true}], allowFileURLs: true}", []string{"allowFileURLs"}},
		{"memory as words", "resources: {limits: {memory: lots}}", []string{"memory"}},
		{"tenant namespace", "rbac: {profile: namespaced-tenants, tenants: [{namespace: Tenant_A}]}", []string{"namespace", "pattern"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals, err := chartutil.ReadValues([]byte(tc.values))
			if err != nil {
				t.Fatal(err)
			}
			_, err = renderChart(t, vals)
			if err == nil {
				t.Fatalf("values %q rendered, want a schema error", tc.values)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			t.Logf("%s: %v", tc.values, err)
		})
	}
}

// TestChartRendersWhatKustomizeInstalls: the chart with the HA values
// holds the same objects (kind and name) as overlays/ha, and the tenants
// values the same as overlays/namespaced-tenants, but for the Namespace
// carina-system that helm --create-namespace makes.
func TestChartRendersWhatKustomizeInstalls(t *testing.T) {
	for _, tc := range []struct{ values, overlay string }{
		{"deploy/helm/ha-values.yaml", "deploy/kustomize/overlays/ha"},
		{"deploy/helm/tenants-values.yaml", "deploy/kustomize/overlays/namespaced-tenants"},
	} {
		t.Run(tc.overlay, func(t *testing.T) {
			ids := func(objs []object) []string {
				var out []string
				for _, o := range objs {
					name := o.Metadata.Name
					if o.Kind == "ConfigMap" && strings.HasPrefix(name, "carina-config-") {
						name = "carina-config" // kustomize's hash suffix
					}
					if o.Kind == "Namespace" && name == "carina-system" {
						continue
					}
					out = append(out, o.Kind+"/"+o.Metadata.Namespace+"/"+name)
				}
				slices.Sort(out)
				return out
			}
			rendered := mustRender(t, valuesFile(t, tc.values))
			checkPod(t, deployment(t, rendered))
			chartIDs := ids(objects(t, rendered))
			kustIDs := ids(objects(t, kustomize(t, tc.overlay)))
			if !slices.Equal(chartIDs, kustIDs) {
				t.Errorf("chart objects:\n%s\nkustomize objects:\n%s", strings.Join(chartIDs, "\n"), strings.Join(kustIDs, "\n"))
			}
		})
	}
}

// TestChartConfigIsCarinaYAML: the ConfigMap's carina.yaml is the
// kustomize base's, with leader election in the release namespace.
func TestChartConfigIsCarinaYAML(t *testing.T) {
	cm := find(t, objects(t, mustRender(t, nil)), "ConfigMap", "carina-config")
	var got map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data["carina.yaml"].(string)), &got); err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := yaml.Unmarshal(readRepoFile(t, "deploy/kustomize/base/carina.yaml"), &want); err != nil {
		t.Fatal(err)
	}
	gy, _ := yaml.Marshal(got)
	wy, _ := yaml.Marshal(want)
	if string(gy) != string(wy) {
		t.Errorf("chart carina.yaml:\n%s\nkustomize carina.yaml:\n%s", gy, wy)
	}
}
