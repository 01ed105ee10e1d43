package appfile

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// Keys of the KubeVela shapes shared by both syntaxes. The unsupported
// lists name valid KubeVela fields that Carina does not implement, so the
// error says so instead of calling them unknown.
var (
	componentKeys        = []string{"name", "type", "properties", "traits", "dependsOn"}
	componentUnsupported = []string{"externalRevision", "inputs", "outputs", "scopes"}
	traitKeys            = []string{"type", "properties"}
	policyKeys           = []string{"name", "type", "properties"}
	workflowKeys         = []string{"steps", "mode"}
	workflowUnsupported  = []string{"ref"}
	workflowModeKeys     = []string{"steps", "subSteps"}
	stepKeys             = []string{"name", "type", "meta", "properties", "if", "timeout", "dependsOn", "subSteps", "mode"}
	subStepKeys          = []string{"name", "type", "meta", "properties", "if", "timeout", "dependsOn"}
	stepUnsupported      = []string{"inputs", "outputs"}
)

// peekName returns the string value of the "name" key of mapping n, if it
// has one, without reporting anything, so that every message about the
// mapping can say which object it is about.
func peekName(n *yaml.Node) string {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind == yaml.ScalarNode && k.Value == "name" && v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" {
			return v.Value
		}
	}
	return ""
}

// describe names an object for messages: `component "web"`, or
// `component #2` while it has no name.
func describe(kind, name string, i int) string {
	if name != "" {
		return fmt.Sprintf("%s %q", kind, name)
	}
	return fmt.Sprintf("%s #%d", kind, i+1)
}

func (r *reader) components(n *yaml.Node) []Component {
	items := r.list(n, "spec.components")
	out := make([]Component, 0, len(items))
	for i, item := range items {
		out = append(out, r.component(item, i))
	}
	return out
}

func (r *reader) component(n *yaml.Node, i int) Component {
	c := Component{Pos: r.pos(n)}
	what := describe("component", peekName(n), i)
	fs, ok := r.mapping(n, what)
	if !ok {
		return c
	}
	k := r.known(fs, what, componentKeys, componentUnsupported)
	c.Name = r.str(k.get("name"), what+" name")
	c.Type = r.str(k.get("type"), what+" type")
	c.Properties = r.object(k.get("properties"), what+" properties")
	c.Traits = r.traits(k.get("traits"), what, false)
	c.DependsOn = r.strList(k.get("dependsOn"), what+" dependsOn")
	return c
}

// traits reads a list of {type, properties}. With keyed set (the short
// Appfile), a mapping from trait type to properties is accepted as well.
func (r *reader) traits(n *yaml.Node, owner string, keyed bool) []Trait {
	if isNull(n) {
		return nil
	}
	var out []Trait
	if keyed && resolve(n).Kind == yaml.MappingNode {
		for _, f := range r.fields(n, owner+" traits") {
			what := fmt.Sprintf("%s trait %q", owner, f.key)
			out = append(out, Trait{Type: f.key, Properties: r.object(f.v, what+" properties"), Pos: r.pos(f.k)})
		}
		return out
	}
	for i, item := range r.list(n, owner+" traits") {
		t := Trait{Pos: r.pos(item)}
		what := fmt.Sprintf("%s trait #%d", owner, i+1)
		if k, ok := r.strictMapping(item, what, traitKeys, nil); ok {
			t.Type = r.str(k.get("type"), what+" type")
			t.Properties = r.object(k.get("properties"), what+" properties")
		}
		out = append(out, t)
	}
	return out
}

func (r *reader) policies(n *yaml.Node, what string) []Policy {
	var out []Policy
	for i, item := range r.list(n, what) {
		p := Policy{Pos: r.pos(item)}
		pw := describe("policy", peekName(item), i)
		if fs, ok := r.mapping(item, pw); ok {
			k := r.known(fs, pw, policyKeys, nil)
			p.Name = r.str(k.get("name"), pw+" name")
			p.Type = r.str(k.get("type"), pw+" type")
			p.Properties = r.object(k.get("properties"), pw+" properties")
		}
		out = append(out, p)
	}
	return out
}

// workflow reads KubeVela's workflow: {mode, steps}. A null workflow is
// none at all.
func (r *reader) workflow(n *yaml.Node) *Workflow {
	if isNull(n) {
		return nil
	}
	k, ok := r.strictMapping(n, "workflow", workflowKeys, workflowUnsupported)
	if !ok {
		return nil
	}
	wf := &Workflow{Pos: r.pos(n)}
	if m := k.get("mode"); !isNull(m) {
		if resolve(m).Kind == yaml.MappingNode {
			mk, _ := r.strictMapping(m, "workflow mode", workflowModeKeys, nil)
			wf.Mode = r.str(mk.get("steps"), "workflow mode steps")
			wf.SubStepsMode = r.str(mk.get("subSteps"), "workflow mode subSteps")
		} else {
			wf.Mode = r.str(m, "workflow mode")
		}
	}
	wf.Steps = r.steps(k.get("steps"), "workflow steps", true)
	mapSteps(wf.Steps, &r.errs)
	return wf
}

func (r *reader) steps(n *yaml.Node, what string, top bool) []WorkflowStep {
	var out []WorkflowStep
	for i, item := range r.list(n, what) {
		out = append(out, r.step(item, i, top))
	}
	return out
}

func (r *reader) step(n *yaml.Node, i int, top bool) WorkflowStep {
	kind, allowed := "step", stepKeys
	if !top {
		kind, allowed = "sub-step", subStepKeys
	}
	s := WorkflowStep{Pos: r.pos(n)}
	what := describe(kind, peekName(n), i)
	fs, ok := r.mapping(n, what)
	if !ok {
		return s
	}
	k := r.known(fs, what, allowed, stepUnsupported)
	s.Name = r.str(k.get("name"), what+" name")
	s.Type = r.str(k.get("type"), what+" type")
	s.Properties = r.object(k.get("properties"), what+" properties")
	s.If = r.str(k.get("if"), what+" if")
	s.Timeout = r.str(k.get("timeout"), what+" timeout")
	s.DependsOn = r.strList(k.get("dependsOn"), what+" dependsOn")
	s.Mode = r.str(k.get("mode"), what+" mode")
	if mk, ok := r.strictMapping(k.get("meta"), what+" meta", []string{"alias"}, nil); ok {
		s.Alias = r.str(mk.get("alias"), what+" meta alias")
	}
	s.SubSteps = r.steps(k.get("subSteps"), what+" subSteps", false)
	return s
}
