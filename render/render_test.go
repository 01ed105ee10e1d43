package render

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/carina-gitops/carina/appfile"
)

func refs(res *Result) []string {
	out := make([]string, len(res.Objects))
	for i, o := range res.Objects {
		out[i] = o.Component + ":" + objectRef(o.Object)
	}
	return out
}

func find(t *testing.T, res *Result, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range res.Objects {
		if o.Object.GetKind() == kind && o.Object.GetName() == name {
			return o.Object
		}
	}
	t.Fatalf("no %s/%s in %v", kind, name, refs(res))
	return nil
}

func nested(t *testing.T, u *unstructured.Unstructured, fields ...string) any {
	t.Helper()
	v, _, err := unstructured.NestedFieldNoCopy(u.Object, fields...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func overridePolicy(name string, props map[string]any) appfile.Policy {
	return appfile.Policy{Name: name, Type: "override", Properties: props, Pos: pos(30, 7)}
}

func TestOverridePolicies(t *testing.T) {
	reg := testRegistry(t)
	root := repoFS(t)
	app := &appfile.Application{Name: "shop", Components: []appfile.Component{
		comp("web", "webservice", 4, web(map[string]any{"env": []any{map[string]any{"name": "MODE", "value": "prod"}}, "labels": map[string]any{"tier": "web", "team": "a"}}),
			trait("scaler", 9, map[string]any{"replicas": 2}), trait("labels", 12, map[string]any{"x": "1"})),
		comp("worker", "worker", 14, web()),
		comp("api-1", "webservice", 18, web()),
		comp("api-2", "webservice", 22, web()),
	}}
	env := appfile.Environment{Name: "prod", Namespace: "shop-prod", Overrides: []appfile.Policy{
		overridePolicy("tune", map[string]any{"components": []any{
			map[string]any{"name": "web", "properties": map[string]any{"image": "nginx:1.28", "labels": map[string]any{"team": "b", "tier": nil}},
				"traits": []any{
					map[string]any{"type": "scaler", "properties": map[string]any{"replicas": 5}},
					map[string]any{"type": "labels", "disable": true},
					map[string]any{"type": "annotations", "properties": map[string]any{"note": "prod"}},
				}},
			map[string]any{"type": "worker", "properties": map[string]any{"memory": "1Gi"}},
			map[string]any{"name": "api-*", "properties": map[string]any{"cpu": "2"}},
			map[string]any{"name": "extra", "type": "k8s-objects", "properties": map[string]any{"objects": []any{
				map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "extra"}}}}},
		}}),
		overridePolicy("only", map[string]any{"components": []any{}, "selector": []any{"web", "worker", "api-2", "extra"}}),
	}}
	res, err := Render(t.Context(), app, env, reg, root.FS(), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	webDep := find(t, res, "Deployment", "web")
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"web image merged", nested(t, webDep, "spec", "template", "spec", "containers"), []any{map[string]any{
			"name": "web", "image": "nginx:1.28", "env": []any{map[string]any{"name": "MODE", "value": "prod"}}}}},
		{"web labels merged, null removed", podLabel(t, webDep, "team") + "/" + podLabel(t, webDep, "tier"), "b/"},
		{"scaler properties merged", nested(t, webDep, "spec", "replicas"), int64(5)},
		{"labels trait disabled", webDep.GetLabels()["x"], ""},
		{"annotations trait added", webDep.GetAnnotations()["note"], "prod"},
		{"wildcard name", len(nested(t, find(t, res, "Deployment", "api-2"), "spec", "template", "spec", "containers").([]any)), 1},
		{"added component", find(t, res, "ConfigMap", "extra").GetNamespace(), "shop-prod"},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
	worker := find(t, res, "Deployment", "worker")
	containers := nested(t, worker, "spec", "template", "spec", "containers").([]any)
	if got := containers[0].(map[string]any)["resources"]; got == nil {
		t.Errorf("worker resources not set by the type patch")
	}
	api := nested(t, find(t, res, "Deployment", "api-2"), "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
	if api["resources"] == nil {
		t.Errorf("api-2 did not get the wildcard patch: %v", api)
	}
	for _, o := range res.Objects {
		if o.Component == "api-1" {
			t.Errorf("selector did not drop api-1: %v", refs(res))
		}
	}
	if len(app.Components[0].Traits) != 2 || app.Components[0].Properties["image"] != "nginx:1.27" {
		t.Errorf("Render modified the application: %+v", app.Components[0])
	}
}

func TestOverrideErrors(t *testing.T) {
	reg := testRegistry(t)
	root := repoFS(t)
	app := &appfile.Application{Name: "shop", Components: []appfile.Component{comp("web", "webservice", 4, web())}}
	tests := []struct {
		name  string
		props map[string]any
		want  string
	}{
		{"bad policy properties", map[string]any{"components": "web"}, "apps/shop/app.yaml:30:7: policy \"o\": policy override"},
		{"new component without type", map[string]any{"components": []any{map[string]any{"name": "new"}}}, `adds component "new" but gives it no type`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := appfile.Environment{Name: "prod", Overrides: []appfile.Policy{overridePolicy("o", tt.props)}}
			res, err := Render(t.Context(), app, env, reg, root.FS(), DefaultOptions())
			if err == nil || res != nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Render = %v, %v; want an error containing %q", res, err, tt.want)
			}
		})
	}
}

func TestDigestIsDeterministic(t *testing.T) {
	reg := testRegistry(t)
	root := repoFS(t)
	c := loadCase(t, filepath.Join("testdata", "golden", "trait-service-account.app.yaml"))
	c.App.Components = append(c.App.Components, comp("worker", "worker", 20, web()), comp("job", "task", 24, web()))
	first, err := Render(t.Context(), &c.App, c.Env, reg, root.FS(), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(c.App.Components)
	second, err := Render(t.Context(), &c.App, c.Env, reg, root.FS(), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if first.Digest != second.Digest {
		t.Errorf("digest changed with component order: %s vs %s", first.Digest, second.Digest)
	}
	if diff := cmp.Diff(refs(first), refs(second)); diff != "" {
		t.Errorf("object order changed with component order (-first +second):\n%s", diff)
	}
	c.App.Components[0].Properties["image"] = "nginx:1.29"
	third, err := Render(t.Context(), &c.App, c.Env, reg, root.FS(), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if third.Digest == first.Digest {
		t.Error("digest did not change with a property")
	}
}

func TestApplyOrder(t *testing.T) {
	mk := func(apiVersion, kind, ns, name string) Object {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(apiVersion)
		u.SetKind(kind)
		u.SetNamespace(ns)
		u.SetName(name)
		return Object{Object: u}
	}
	objs := []Object{
		mk("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "", "hook"),
		mk("example.com/v1", "Widget", "a", "w"),
		mk("apps/v1", "Deployment", "b", "web"),
		mk("apps/v1", "Deployment", "a", "web"),
		mk("v1", "Service", "a", "web"),
		mk("rbac.authorization.k8s.io/v1", "ClusterRole", "", "r"),
		mk("v1", "Namespace", "", "a"),
		mk("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com"),
		mk("v1", "ConfigMap", "a", "cfg"),
	}
	sortObjects(objs)
	var got []string
	for _, o := range objs {
		got = append(got, objectRef(o.Object))
	}
	want := []string{
		"CustomResourceDefinition/widgets.example.com", "Namespace/a", "ClusterRole/r", "ConfigMap/a/cfg",
		"Service/a/web", "Deployment/a/web", "Deployment/b/web", "Widget/a/w", "ValidatingWebhookConfiguration/hook",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("apply order (-want +got):\n%s", diff)
	}
}

func TestClusterScopedKindsOption(t *testing.T) {
	reg := testRegistry(t)
	root := repoFS(t)
	app := &appfile.Application{Name: "shop", Components: []appfile.Component{comp("objs", "k8s-objects", 4, map[string]any{"objects": []any{
		map[string]any{"apiVersion": "example.com/v1", "kind": "ClusterWidget", "metadata": map[string]any{"name": "w"}},
		map[string]any{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "w"}},
	}})}}
	opts := DefaultOptions()
	opts.ClusterScopedKinds = []string{"ClusterWidget.example.com"}
	res, err := Render(t.Context(), app, appfile.Environment{Name: "dev", Namespace: "shop-dev"}, reg, root.FS(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if ns := find(t, res, "ClusterWidget", "w").GetNamespace(); ns != "" {
		t.Errorf("ClusterWidget namespace = %q, want none", ns)
	}
	if ns := find(t, res, "Widget", "w").GetNamespace(); ns != "shop-dev" {
		t.Errorf("Widget namespace = %q, want shop-dev", ns)
	}
	for _, o := range res.Objects {
		if o.Env != "dev" || o.Object.GetLabels()[LabelEnv] != "dev" || o.Object.GetLabels()[LabelApp] != "shop" || o.Object.GetLabels()[LabelComponent] != "objs" {
			t.Errorf("%s: env %q, labels %v", objectRef(o.Object), o.Env, o.Object.GetLabels())
		}
	}
}

// TestConcurrentRenders renders the golden cases from many goroutines with
// one registry, as the agent does; run it with -race.
func TestConcurrentRenders(t *testing.T) {
	reg := testRegistry(t)
	root := repoFS(t)
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "trait-*.app.yaml"))
	cases := make([]goldenCase, len(files))
	for i, f := range files {
		cases[i] = loadCase(t, f)
	}
	want := make([]string, len(cases))
	for i := range cases {
		res, err := Render(t.Context(), &cases[i].App, cases[i].Env, reg, root.FS(), DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		want[i] = res.Digest
	}
	var wg sync.WaitGroup
	errs := make([]error, 4*len(cases))
	for g := range 4 {
		for i := range cases {
			wg.Go(func() {
				res, err := Render(t.Context(), &cases[i].App, cases[i].Env, reg, root.FS(), DefaultOptions())
				switch {
				case err != nil:
					errs[g*len(cases)+i] = err
				case res.Digest != want[i]:
					errs[g*len(cases)+i] = fmt.Errorf("%s: digest %s, want %s", files[i], res.Digest, want[i])
				}
			})
		}
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// podLabel returns a label of a workload's pod template (where the
// built-in components put their labels parameter, as KubeVela's do).
func podLabel(t *testing.T, u *unstructured.Unstructured, key string) string {
	t.Helper()
	labels, _ := nested(t, u, "spec", "template", "metadata", "labels").(map[string]any)
	v, _ := labels[key].(string)
	return v
}
