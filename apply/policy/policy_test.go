package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/render"
)

func pol(typ string, props map[string]any) appfile.Policy {
	return appfile.Policy{Name: typ, Type: typ, Properties: props}
}

func rule(sel map[string]any, extra map[string]any) map[string]any {
	r := map[string]any{"selector": sel}
	for k, v := range extra {
		r[k] = v
	}
	return r
}

func list(s ...string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

func TestResolve(t *testing.T) {
	web := Target{Component: "web", ComponentType: "webservice", Kind: "Deployment", Name: "web"}
	ingress := Target{Component: "web", ComponentType: "webservice", Trait: "gateway", Kind: "Ingress", Name: "web"}
	pvc := Target{Component: "db", ComponentType: "statefulset", Kind: "PersistentVolumeClaim", Name: "data"}
	tests := []struct {
		name     string
		policies []appfile.Policy
		target   Target
		want     apply.Policies
	}{
		{"none", nil, web, apply.Policies{}},
		{"apply-once for the app", []appfile.Policy{pol(TypeApplyOnce, map[string]any{"enable": true})}, web,
			apply.Policies{ApplyOnce: apply.ApplyOnce{Enabled: true}}},
		{"apply-once replicas of deployments", []appfile.Policy{pol(TypeApplyOnce, map[string]any{"rules": []any{
			rule(map[string]any{"resourceTypes": list("Deployment")}, map[string]any{"strategy": map[string]any{"path": list("spec.replicas")}}),
		}})}, web, apply.Policies{ApplyOnce: apply.ApplyOnce{Enabled: true, Paths: []string{"spec.replicas"}}}},
		{"apply-once rule not matching", []appfile.Policy{pol(TypeApplyOnce, map[string]any{"rules": []any{
			rule(map[string]any{"resourceTypes": list("StatefulSet")}, map[string]any{"strategy": map[string]any{"path": list("*")}}),
		}})}, web, apply.Policies{}},
		{"gc keep pvc, orphan", []appfile.Policy{pol(TypeGarbageCollect, map[string]any{"rules": []any{
			rule(map[string]any{"resourceTypes": list("PersistentVolumeClaim")}, map[string]any{"strategy": "never", "propagation": "orphan"}),
		}})}, pvc, apply.Policies{Prune: inventory.PruneNever, Orphan: true}},
		{"gc keep legacy", []appfile.Policy{pol(TypeGarbageCollect, map[string]any{"keepLegacyResource": true})}, web,
			apply.Policies{Prune: inventory.PruneOnAppDelete}},
		{"read-only by component and type", []appfile.Policy{pol(TypeReadOnly, map[string]any{"rules": []any{
			rule(map[string]any{"componentNames": list("web"), "componentTypes": list("webservice")}, nil),
		}})}, web, apply.Policies{ReadOnly: true}},
		{"take-over traits only", []appfile.Policy{pol(TypeTakeOver, map[string]any{"rules": []any{
			rule(map[string]any{"oamTypes": list("TRAIT"), "traitTypes": list("gateway")}, nil),
		}})}, ingress, apply.Policies{TakeOver: true}},
		{"take-over traits only, component object", []appfile.Policy{pol(TypeTakeOver, map[string]any{"rules": []any{
			rule(map[string]any{"oamTypes": list("TRAIT")}, nil),
		}})}, web, apply.Policies{}},
		{"shared without rules", []appfile.Policy{pol(TypeSharedResource, nil)}, pvc, apply.Policies{Shared: true}},
		{"recreate", []appfile.Policy{pol(TypeResourceUpdate, map[string]any{"rules": []any{
			rule(map[string]any{"resourceNames": list("web")}, map[string]any{"strategy": map[string]any{"recreateFields": list("spec.selector")}}),
		}})}, web, apply.Policies{Recreate: true}},
		{"drift report for the env", []appfile.Policy{pol(TypeDrift, map[string]any{"mode": "report"})}, web,
			apply.Policies{Drift: apply.DriftPolicy{Mode: apply.DriftReport}}},
		{"drift rules: mode and ignored fields of matching objects", []appfile.Policy{pol(TypeDrift, map[string]any{"mode": "correct", "rules": []any{
			rule(map[string]any{"resourceTypes": list("Deployment")}, map[string]any{"mode": "report", "ignoreFields": list("spec.replicas")}),
			rule(map[string]any{"componentNames": list("web")}, map[string]any{"mode": "ignore"}),
			rule(map[string]any{"resourceTypes": list("Ingress")}, map[string]any{"ignoreFields": list("spec.rules")}),
		}})}, web, apply.Policies{Drift: apply.DriftPolicy{Mode: apply.DriftIgnore, IgnoreFields: []string{"spec.replicas"}}}},
		{"drift rule not matching keeps the mode", []appfile.Policy{pol(TypeDrift, map[string]any{"rules": []any{
			rule(map[string]any{"resourceTypes": list("Deployment")}, map[string]any{"mode": "report"}),
		}})}, pvc, apply.Policies{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Resolve(tt.policies, tt.target)); diff != "" {
				t.Errorf("Resolve (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSet(t *testing.T) {
	app := &appfile.Application{
		Name:       "shop",
		Components: []appfile.Component{{Name: "web", Type: "webservice"}},
		Policies: []appfile.Policy{
			{Name: "topo", Type: "topology"},
			pol(TypeTakeOver, map[string]any{"rules": []any{rule(map[string]any{"resourceTypes": list("Service")}, nil)}}),
		},
	}
	obj := func(kind string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("v1")
		u.SetKind(kind)
		u.SetName("web")
		return u
	}
	res := &render.Result{App: "shop", Env: "prod", Digest: "sha256:1", Objects: []render.Object{
		{Object: obj("Deployment"), Component: "web", Definition: "component webservice", Workload: true},
		{Object: obj("Service"), Component: "web", Definition: "component webservice", OutputName: "svc"},
	}}
	s := Set(res, app, appfile.Environment{Name: "prod"}, "abc")
	if s.App != "shop" || s.Env != "prod" || s.Revision != "abc" || s.Digest != "sha256:1" || len(s.Objects) != 2 {
		t.Fatalf("set = %+v", s)
	}
	if s.Objects[0].Policies.TakeOver || !s.Objects[1].Policies.TakeOver || !s.Objects[0].Workload || s.Objects[1].OutputName != "svc" {
		t.Errorf("objects = %+v", s.Objects)
	}
	if got := Policies(app, appfile.Environment{Policies: []appfile.Policy{app.Policies[1]}}); len(got) != 1 {
		t.Errorf("Policies: %v, want only take-over once", got)
	}
}

// TestDriftPolicyIsPerEnvironment: a drift policy a deploy step names
// acts on that step's environment only; one no step names acts on all.
func TestDriftPolicyIsPerEnvironment(t *testing.T) {
	app := &appfile.Application{
		Policies: []appfile.Policy{
			pol(TypeDrift, map[string]any{"mode": "report"}),
			{Name: "prod-drift", Type: TypeDrift, Properties: map[string]any{"mode": "ignore"}},
		},
		Workflow: &appfile.Workflow{Steps: []appfile.WorkflowStep{
			{Name: "staging", Type: "deploy", Properties: map[string]any{"policies": list("staging")}},
			{Name: "group", Type: "step-group", SubSteps: []appfile.WorkflowStep{
				{Name: "prod", Type: "deploy", Properties: map[string]any{"policies": list("prod", "prod-drift")}},
			}},
		}},
	}
	staging := appfile.Environment{Name: "staging"}
	prod := appfile.Environment{Name: "prod", Policies: []appfile.Policy{app.Policies[1]}}
	names := func(ps []appfile.Policy) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	if diff := cmp.Diff([]string{TypeDrift}, names(Policies(app, staging))); diff != "" {
		t.Errorf("staging (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{TypeDrift, "prod-drift"}, names(Policies(app, prod))); diff != "" {
		t.Errorf("prod (-want +got):\n%s", diff)
	}
	if got := Resolve(Policies(app, prod), Target{Kind: "Deployment"}).Drift.Mode; got != apply.DriftIgnore {
		t.Errorf("prod drift mode %q, want ignore (the step's policy comes last)", got)
	}
}
