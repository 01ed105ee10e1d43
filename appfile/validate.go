package appfile

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Types and modes that validation knows about.
const (
	TopologyPolicy = "topology"
	OverridePolicy = "override"
	DeployStep     = "deploy"
	StepGroupStep  = "step-group"
	ModeStepByStep = "StepByStep"
	ModeDAG        = "DAG"
)

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// isDNSLabel reports whether s is a DNS-1123 label, the form of Kubernetes
// namespace names and of Carina's app and environment label values.
func isDNSLabel(s string) bool { return len(s) <= 63 && dnsLabel.MatchString(s) }

const dnsLabelRule = "a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters)"

// Validate checks what an application means, beyond its syntax: required
// names and types, duplicate and unknown names, dependency cycles,
// timeouts, override policies naming unknown components, and that its
// environments can be derived. Parse runs it; call it on applications
// built in code. The error is an ErrorList.
func Validate(app *Application) error {
	var errs ErrorList
	validate(app, &errs)
	return errs.err()
}

func validate(app *Application, errs *ErrorList) {
	switch {
	case app.Name == "":
		errs.add(app.Pos, "application: name is required")
	case !isDNSLabel(app.Name):
		errs.add(app.Pos, "application %q: name must be %s", app.Name, dnsLabelRule)
	}
	if app.Namespace != "" && !isDNSLabel(app.Namespace) {
		errs.add(app.Pos, "application %q: namespace %q must be %s", app.Name, app.Namespace, dnsLabelRule)
	}
	components := validateComponents(app.Components, errs)
	validatePolicies(app.Policies, components, errs)
	validateWorkflow(app.Workflow, errs)
	deriveEnvironments(app, errs)
	appPreview(app, errs)
}

// validateComponents checks components and returns them by name.
func validateComponents(comps []Component, errs *ErrorList) map[string]*Component {
	byName := map[string]*Component{}
	for i := range comps {
		c := &comps[i]
		what := describe("component", c.Name, i)
		switch prev, dup := byName[c.Name]; {
		case c.Name == "":
			errs.add(c.Pos, "%s: name is required", what)
		case !isDNSLabel(c.Name):
			errs.add(c.Pos, "%s: name must be %s", what, dnsLabelRule)
		case dup:
			errs.add(c.Pos, "%s is already defined at %s", what, prev.Pos)
		default:
			byName[c.Name] = c
		}
		if c.Type == "" {
			errs.add(c.Pos, "%s: type is required", what)
		}
		for j, t := range c.Traits {
			if t.Type == "" {
				errs.add(t.Pos, "%s trait #%d: type is required", what, j+1)
			}
		}
	}
	var graph []graphNode
	for i, c := range comps {
		what := describe("component", c.Name, i)
		for _, d := range c.DependsOn {
			if d == c.Name {
				errs.add(c.Pos, "%s: dependsOn names the component itself", what)
			} else if byName[d] == nil {
				errs.add(c.Pos, "%s: dependsOn names unknown component %q", what, d)
			}
		}
		graph = append(graph, graphNode{name: c.Name, what: what, deps: c.DependsOn, pos: c.Pos})
	}
	findCycles("component", graph, errs)
	return byName
}

func validatePolicies(policies []Policy, comps map[string]*Component, errs *ErrorList) {
	byName := map[string]*Policy{}
	for i := range policies {
		p := &policies[i]
		what := describe("policy", p.Name, i)
		switch prev, dup := byName[p.Name]; {
		case p.Name == "":
			errs.add(p.Pos, "%s: name is required", what)
		case dup:
			errs.add(p.Pos, "%s is already defined at %s", what, prev.Pos)
		default:
			byName[p.Name] = p
		}
		switch p.Type {
		case "":
			errs.add(p.Pos, "%s: type is required", what)
		case TopologyPolicy:
			if p.Name != "" && !isDNSLabel(p.Name) {
				errs.add(p.Pos, "%s: a topology policy's name is an environment name and must be %s", what, dnsLabelRule)
			}
		case OverridePolicy:
			validateOverride(p, what, comps, errs)
		}
	}
}

// validateOverride checks the parts of an override policy that name
// components; the policy definition checks the rest. As in KubeVela, a
// component name may hold * wildcards (it then changes every component it
// matches), and a name that is no component adds one, so it needs a type.
// A selector may name the application's components and those the policy
// adds.
func validateOverride(p *Policy, what string, comps map[string]*Component, errs *ErrorList) {
	added := map[string]bool{}
	raw, has := p.Properties["components"]
	entries, ok := raw.([]any)
	if has && !ok {
		errs.add(p.Pos, "%s: components must be a list, got %s", what, valueKind(raw))
	}
	for i, e := range entries {
		ew := fmt.Sprintf("%s components #%d", what, i+1)
		m, ok := e.(map[string]any)
		if !ok {
			errs.add(p.Pos, "%s must be a mapping, got %s", ew, valueKind(e))
			continue
		}
		if nv, has := m["name"]; has {
			name, ok := nv.(string)
			typ, _ := m["type"].(string)
			switch {
			case !ok:
				errs.add(p.Pos, "%s name must be a string, got %s", ew, valueKind(nv))
			case strings.Contains(name, "*"), comps[name] != nil:
			case !isDNSLabel(name):
				errs.add(p.Pos, "%s: name %q is no component, and a component it adds must be named %s", ew, name, dnsLabelRule)
			case typ == "":
				errs.add(p.Pos, "%s: name %q is no component; to add it, give its type", ew, name)
			default:
				added[name] = true
			}
		}
		if props, has := m["properties"]; has && props != nil {
			if _, ok := props.(map[string]any); !ok {
				errs.add(p.Pos, "%s properties must be a mapping, got %s", ew, valueKind(props))
			}
		}
		if traits, has := m["traits"]; has && traits != nil {
			if _, ok := traits.([]any); !ok {
				errs.add(p.Pos, "%s traits must be a list, got %s", ew, valueKind(traits))
			}
		}
	}
	if sel, has := p.Properties["selector"]; has {
		list, ok := sel.([]any)
		if !ok {
			errs.add(p.Pos, "%s: selector must be a list of component names, got %s", what, valueKind(sel))
		}
		for _, v := range list {
			name, ok := v.(string)
			switch {
			case !ok:
				errs.add(p.Pos, "%s: selector entry must be a string, got %s", what, valueKind(v))
			case comps[name] == nil && !added[name]:
				errs.add(p.Pos, "%s: selector entry names unknown component %q", what, name)
			}
		}
	}
}

func validateWorkflow(wf *Workflow, errs *ErrorList) {
	if wf == nil {
		return
	}
	checkMode := func(pos Position, what, mode string) {
		if mode != "" && mode != ModeStepByStep && mode != ModeDAG {
			errs.add(pos, "%s %q must be %s or %s", what, mode, ModeStepByStep, ModeDAG)
		}
	}
	checkMode(wf.Pos, "workflow mode", wf.Mode)
	checkMode(wf.Pos, "workflow subSteps mode", wf.SubStepsMode)
	byName := map[string]*WorkflowStep{}
	var graph []graphNode
	var walk func(steps []WorkflowStep, kind string)
	walk = func(steps []WorkflowStep, kind string) {
		for i := range steps {
			s := &steps[i]
			what := describe(kind, s.Name, i)
			validateStep(s, what, kind, byName, errs)
			checkMode(s.Pos, what+" mode", s.Mode)
			graph = append(graph, graphNode{name: s.Name, what: what, deps: s.DependsOn, pos: s.Pos})
			walk(s.SubSteps, "sub-step")
		}
	}
	walk(wf.Steps, "step")
	for _, n := range graph {
		for _, d := range n.deps {
			if d == n.name {
				errs.add(n.pos, "%s: dependsOn names the step itself", n.what)
			} else if byName[d] == nil {
				errs.add(n.pos, "%s: dependsOn names unknown step %q", n.what, d)
			}
		}
	}
	findCycles("step", graph, errs)
}

func validateStep(s *WorkflowStep, what, kind string, byName map[string]*WorkflowStep, errs *ErrorList) {
	switch prev, dup := byName[s.Name]; {
	case s.Name == "":
		errs.add(s.Pos, "%s: name is required", what)
	case dup:
		errs.add(s.Pos, "%s is already defined at %s", what, prev.Pos)
	default:
		byName[s.Name] = s
	}
	if s.Type == "" {
		errs.add(s.Pos, "%s: type is required", what)
	}
	if s.Timeout != "" {
		if d, err := time.ParseDuration(s.Timeout); err != nil || d <= 0 {
			errs.add(s.Pos, "%s: timeout %q is not a positive duration such as 30s, 10m or 1h", what, s.Timeout)
		}
	}
	if s.Type != StepGroupStep && s.Type != "" {
		if len(s.SubSteps) > 0 {
			errs.add(s.Pos, "%s: only a %s step has subSteps", what, StepGroupStep)
		}
		if s.Mode != "" {
			errs.add(s.Pos, "%s: only a %s step has a mode", what, StepGroupStep)
		}
	}
	if kind == "sub-step" && len(s.SubSteps) > 0 {
		errs.add(s.Pos, "%s: a sub-step cannot have subSteps", what)
	}
}

// graphNode is one vertex of a dependsOn graph.
type graphNode struct {
	name string
	what string
	deps []string
	pos  Position
}

// findCycles reports each dependency cycle once, at the first node of the
// cycle in declaration order. Self edges and unknown names are left to the
// callers' own checks.
func findCycles(kind string, nodes []graphNode, errs *ErrorList) {
	byName := map[string]*graphNode{}
	for i := range nodes {
		if _, dup := byName[nodes[i].name]; !dup && nodes[i].name != "" {
			byName[nodes[i].name] = &nodes[i]
		}
	}
	const (
		unvisited = iota
		active
		finished
	)
	state := map[string]int{}
	var stack []string
	var visit func(n *graphNode)
	visit = func(n *graphNode) {
		state[n.name] = active
		stack = append(stack, n.name)
		for _, d := range n.deps {
			next := byName[d]
			if next == nil || d == n.name {
				continue
			}
			switch state[d] {
			case unvisited:
				visit(next)
			case active:
				cycle := stack[slices.Index(stack, d):]
				errs.add(next.pos, "%s %q: dependency cycle %s -> %s", kind, d, strings.Join(cycle, " -> "), d)
			}
		}
		stack = stack[:len(stack)-1]
		state[n.name] = finished
	}
	for i := range nodes {
		if n := byName[nodes[i].name]; n != nil && state[n.name] == unvisited {
			visit(n)
		}
	}
}

// valueKind names the kind of a plain data value for messages.
func valueKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "a mapping"
	case []any, []string:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	}
	return "a number"
}
