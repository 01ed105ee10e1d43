// Package policy maps an application's KubeVela-style policies
// (apply-once, garbage-collect, read-only, shared-resource, take-over,
// resource-update, drift) onto the apply engine's per-object policies, and turns
// a render result into an apply set.
//
// A rule's selector matches an object when every criterion it sets
// matches (componentNames, componentTypes, oamTypes, traitTypes,
// resourceTypes, resourceNames); an empty selector matches every object.
package policy

import (
	"strings"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/health"
	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/render"
)

// Policy types the apply engine acts on.
const (
	TypeApplyOnce      = "apply-once"
	TypeGarbageCollect = "garbage-collect"
	TypeReadOnly       = "read-only"
	TypeSharedResource = "shared-resource"
	TypeTakeOver       = "take-over"
	TypeResourceUpdate = "resource-update"
	TypeDrift          = "drift"
)

// Target describes one rendered object for selectors.
type Target struct {
	Component     string
	ComponentType string
	// Trait is the trait type that produced the object, "" for the
	// component's own objects.
	Trait string
	Kind  string
	Name  string
}

// Resolve returns the apply policies of one object under the policies.
func Resolve(policies []appfile.Policy, t Target) apply.Policies {
	var p apply.Policies
	for _, pol := range policies {
		switch pol.Type {
		case TypeApplyOnce:
			applyOnce(&p, pol.Properties, t)
		case TypeGarbageCollect:
			garbageCollect(&p, pol.Properties, t)
		case TypeReadOnly:
			p.ReadOnly = p.ReadOnly || anyRule(pol.Properties, t, false)
		case TypeSharedResource:
			p.Shared = p.Shared || anyRule(pol.Properties, t, true)
		case TypeTakeOver:
			p.TakeOver = p.TakeOver || anyRule(pol.Properties, t, false)
		case TypeDrift:
			drift(&p, pol.Properties, t)
		case TypeResourceUpdate:
			for _, r := range rules(pol.Properties) {
				st := mapOf(r["strategy"])
				if matches(mapOf(r["selector"]), t) && (len(stringList(st["recreateFields"])) > 0 || st["op"] == "replace") {
					p.Recreate = true
				}
			}
		}
	}
	return p
}

// drift sets the object's drift mode: the policy's mode, then that of
// the last rule matching it; ignoreFields of every matching rule add up.
func drift(p *apply.Policies, props map[string]any, t Target) {
	if m, ok := props["mode"].(string); ok {
		p.Drift.Mode = apply.DriftMode(m)
	}
	for _, r := range rules(props) {
		if !matches(mapOf(r["selector"]), t) {
			continue
		}
		if m, ok := r["mode"].(string); ok {
			p.Drift.Mode = apply.DriftMode(m)
		}
		p.Drift.IgnoreFields = append(p.Drift.IgnoreFields, stringList(r["ignoreFields"])...)
	}
}

func applyOnce(p *apply.Policies, props map[string]any, t Target) {
	if props["enable"] == true && len(rules(props)) == 0 {
		p.ApplyOnce = apply.ApplyOnce{Enabled: true}
		return
	}
	for _, r := range rules(props) {
		if !matches(mapOf(r["selector"]), t) {
			continue
		}
		paths := stringList(mapOf(r["strategy"])["path"])
		p.ApplyOnce.Enabled = true
		p.ApplyOnce.Paths = append(p.ApplyOnce.Paths, paths...)
		if len(paths) == 0 {
			p.ApplyOnce.Paths = append(p.ApplyOnce.Paths, "*")
		}
	}
}

func garbageCollect(p *apply.Policies, props map[string]any, t Target) {
	if props["keepLegacyResource"] == true {
		p.Prune = inventory.PruneOnAppDelete
	}
	for _, r := range rules(props) {
		if !matches(mapOf(r["selector"]), t) {
			continue
		}
		switch r["strategy"] {
		case "onAppDelete":
			p.Prune = inventory.PruneOnAppDelete
		case "never":
			p.Prune = inventory.PruneNever
		case "onAppUpdate":
			p.Prune = inventory.PruneOnUpdate
		}
		if r["propagation"] == "orphan" {
			p.Orphan = true
		}
	}
}

// anyRule reports whether a rule matches t; a policy without rules
// matches every object when noRulesMatch is set.
func anyRule(props map[string]any, t Target, noRulesMatch bool) bool {
	rs := rules(props)
	if len(rs) == 0 {
		return noRulesMatch
	}
	for _, r := range rs {
		if matches(mapOf(r["selector"]), t) {
			return true
		}
	}
	return false
}

// matches applies a selector: every criterion set must list t's value.
func matches(sel map[string]any, t Target) bool {
	oamType := "COMPONENT"
	if t.Trait != "" {
		oamType = "TRAIT"
	}
	criteria := []struct {
		key, value string
	}{
		{"componentNames", t.Component}, {"componentTypes", t.ComponentType}, {"oamTypes", oamType},
		{"traitTypes", t.Trait}, {"resourceTypes", t.Kind}, {"resourceNames", t.Name},
	}
	for _, c := range criteria {
		if list, ok := sel[c.key]; ok && !contains(stringList(list), c.value) {
			return false
		}
	}
	return true
}

func rules(props map[string]any) []map[string]any {
	list, _ := props["rules"].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, r := range list {
		if m, ok := r.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// stringList reads a list of strings, skipping other values.
func stringList(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Policies returns the policies that act on apply for an environment: the
// application's policies of the types above and those its deploy step
// names, once each by name.
//
// A drift policy is per environment: one that a deploy step names acts
// only on the environments of the steps naming it, and one that no step
// names acts on every environment.
func Policies(app *appfile.Application, env appfile.Environment) []appfile.Policy {
	seen := map[string]bool{}
	named := namedBySteps(app)
	var out []appfile.Policy
	for i, list := range [][]appfile.Policy{app.Policies, env.Policies} {
		for _, p := range list {
			switch p.Type {
			case TypeDrift:
				if i == 0 && named[p.Name] {
					continue
				}
			case TypeApplyOnce, TypeGarbageCollect, TypeReadOnly, TypeSharedResource, TypeTakeOver, TypeResourceUpdate:
			default:
				continue
			}
			if !seen[p.Name] {
				seen[p.Name] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// namedBySteps returns the policy names that the deploy steps of app's
// workflow name.
func namedBySteps(app *appfile.Application) map[string]bool {
	out := map[string]bool{}
	if app.Workflow == nil {
		return out
	}
	var walk func(steps []appfile.WorkflowStep)
	walk = func(steps []appfile.WorkflowStep) {
		for _, s := range steps {
			if s.Type == "deploy" {
				for _, n := range stringList(s.Properties["policies"]) {
					out[n] = true
				}
			}
			walk(s.SubSteps)
		}
	}
	walk(app.Workflow.Steps)
	return out
}

// Set turns a render result into an apply set with each object's
// policies, health policy and metadata.
func Set(res *render.Result, app *appfile.Application, env appfile.Environment, revision string) *apply.Set {
	pols := Policies(app, env)
	types := map[string]string{}
	for _, c := range app.Components {
		types[c.Name] = c.Type
	}
	set := &apply.Set{App: res.App, Env: res.Env, Revision: revision, Digest: res.Digest, AllowEmpty: app.AllowEmpty,
		Objects: make([]apply.Object, len(res.Objects))}
	for i, o := range res.Objects {
		compType := types[o.Component]
		if t, ok := strings.CutPrefix(o.Definition, "component "); ok && compType == "" {
			compType = t
		}
		set.Objects[i] = apply.Object{
			Obj: o.Object, Component: o.Component, Trait: o.Trait, Workload: o.Workload, OutputName: o.OutputName,
			Health: health.Policy{HealthPolicy: o.Health.HealthPolicy, CustomStatus: o.Health.CustomStatus, Parameter: o.Parameter},
			Policies: Resolve(pols, Target{
				Component: o.Component, ComponentType: compType, Trait: o.Trait,
				Kind: o.Object.GetKind(), Name: o.Object.GetName(),
			}),
		}
	}
	return set
}
