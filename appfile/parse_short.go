package appfile

import (
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

var (
	shortKeys = []string{"name", "namespace", "labels", "annotations", "allowEmpty",
		"services", "environments", "policies", "workflow"}
	// serviceKeys are the keys of a service that are not properties.
	serviceKeys     = []string{"type", "traits", "dependsOn", "properties"}
	environmentKeys = []string{"clusters", "namespace", "serviceAccount", "overrides", "approval"}
)

// Names of what an environment entry of the short Appfile expands to.
const (
	overridesSuffix = "-overrides"
	approvePrefix   = "approve-"
	deployPrefix    = "deploy-"
)

// shortApp reads the short Appfile form (see docs/appfile.md).
func (r *reader) shortApp(root *yaml.Node) *Application {
	app := &Application{Pos: r.pos(root), Components: []Component{}}
	what := "appfile"
	if name := peekName(root); name != "" {
		what = fmt.Sprintf("appfile %q", name)
	}
	fs := withoutSOPS(r.fields(root, what))
	k := r.known(fs, what, shortKeys, nil)
	app.Name = r.str(k.get("name"), what+" name")
	app.Namespace = r.str(k.get("namespace"), what+" namespace")
	app.Labels = r.strMap(k.get("labels"), what+" labels")
	app.Annotations = r.strMap(k.get("annotations"), what+" annotations")
	app.AllowEmpty = r.boolean(k.get("allowEmpty"), what+" allowEmpty") ||
		app.Annotations[AllowEmptyAnnotation] == "true"
	if _, has := k["services"]; !has {
		r.errorf(root, "%s: services is required", what)
	}
	app.Components = append(app.Components, r.services(k.get("services"))...)
	envPolicies, envSteps := r.environments(k.get("environments"))
	app.Policies = append(envPolicies, r.policies(k.get("policies"), "policies")...)
	app.Workflow = r.workflow(k.get("workflow"))
	if envs, has := k["environments"]; has && !isNull(envs.v) {
		if app.Workflow != nil {
			r.errorf(k["workflow"].k, "%s: environments and workflow cannot both be given; write the deploy steps in workflow instead", what)
		}
		app.Workflow = &Workflow{Steps: envSteps, Pos: r.pos(envs.k)}
	}
	return app
}

func (r *reader) services(n *yaml.Node) []Component {
	fs, _ := r.mapping(n, "services")
	out := make([]Component, 0, len(fs))
	for _, f := range fs {
		out = append(out, r.service(f))
	}
	return out
}

// service reads one entry of services: the key is the component name, and
// every key other than type, traits, dependsOn and properties is a
// property.
func (r *reader) service(f field) Component {
	c := Component{Name: f.key, Pos: r.pos(f.k)}
	what := fmt.Sprintf("service %q", f.key)
	fs, ok := r.mapping(f.v, what)
	if !ok {
		return c
	}
	var explicit *field
	for i, sf := range fs {
		switch sf.key {
		case "type":
			c.Type = r.str(sf.v, what+" type")
		case "traits":
			c.Traits = r.traits(sf.v, what, true)
		case "dependsOn":
			c.DependsOn = r.strList(sf.v, what+" dependsOn")
		case "properties":
			explicit = &fs[i]
		}
	}
	c.Properties = r.inlineProperties(fs, explicit, what, serviceKeys)
	return c
}

// inlineProperties collects the keys of fs not in reserved as properties,
// merged with the mapping under the explicit "properties" key. A property
// given both ways is an error.
func (r *reader) inlineProperties(fs []field, explicit *field, what string, reserved []string) map[string]any {
	props := map[string]any{}
	if explicit != nil {
		for k, v := range r.object(explicit.v, what+" properties") {
			props[k] = v
		}
	}
	for _, f := range fs {
		if slices.Contains(reserved, f.key) {
			continue
		}
		if _, dup := props[f.key]; dup && explicit != nil {
			r.errorf(f.k, "%s: property %q is given both inline and under properties", what, f.key)
			continue
		}
		props[f.key] = r.value(f.v, fmt.Sprintf("%s property %q", what, f.key))
	}
	if len(props) == 0 {
		return nil
	}
	return props
}

// environments expands the environments mapping into a topology policy per
// environment, an override policy for its overrides, and the workflow
// steps that deploy them in order (a suspend step first when approval is
// set).
func (r *reader) environments(n *yaml.Node) ([]Policy, []WorkflowStep) {
	fs, _ := r.mapping(n, "environments")
	var policies []Policy
	var steps []WorkflowStep
	for _, f := range fs {
		what := fmt.Sprintf("environment %q", f.key)
		k, ok := r.strictMapping(f.v, what, environmentKeys, nil)
		if !ok {
			continue
		}
		topology := Policy{Name: f.key, Type: "topology", Pos: r.pos(f.k), Properties: map[string]any{}}
		if c := k.get("clusters"); c != nil {
			topology.Properties["clusters"] = anyList(r.strList(c, what+" clusters"))
		}
		for _, key := range []string{"namespace", "serviceAccount"} {
			if v := k.get(key); v != nil {
				topology.Properties[key] = r.str(v, what+" "+key)
			}
		}
		if len(topology.Properties) == 0 {
			topology.Properties = nil
		}
		policies = append(policies, topology)
		names := []any{f.key}
		if o, has := k["overrides"]; has {
			name := f.key + overridesSuffix
			comps := r.overrides(o.v, what+" overrides")
			policies = append(policies, Policy{Name: name, Type: "override", Pos: r.pos(o.k),
				Properties: map[string]any{"components": comps}})
			names = append(names, name)
		}
		if a, has := k["approval"]; has && r.boolean(a.v, what+" approval") {
			steps = append(steps, WorkflowStep{Name: approvePrefix + f.key, Type: "suspend", Pos: r.pos(a.k)})
		}
		steps = append(steps, WorkflowStep{Name: deployPrefix + f.key, Type: "deploy", Pos: r.pos(f.k),
			Properties: map[string]any{"policies": names}})
	}
	return policies, steps
}

// overrides reads {service: {traits, type, properties, inline props}} into
// the components list of a KubeVela override policy. A trait given as
// false is removed in that environment (KubeVela's disable: true).
func (r *reader) overrides(n *yaml.Node, what string) []any {
	fs, _ := r.mapping(n, what)
	out := make([]any, 0, len(fs))
	for _, f := range fs {
		sw := fmt.Sprintf("%s %q", what, f.key)
		entry := map[string]any{"name": f.key}
		sfs, ok := r.mapping(f.v, sw)
		if !ok {
			continue
		}
		var explicit *field
		for i, sf := range sfs {
			switch sf.key {
			case "type":
				entry["type"] = r.str(sf.v, sw+" type")
			case "traits":
				entry["traits"] = r.overrideTraits(sf.v, sw)
			case "properties":
				explicit = &sfs[i]
			}
		}
		if props := r.inlineProperties(sfs, explicit, sw, []string{"type", "traits", "properties"}); props != nil {
			entry["properties"] = props
		}
		out = append(out, entry)
	}
	return out
}

func (r *reader) overrideTraits(n *yaml.Node, owner string) []any {
	if rn := resolve(n); rn != nil && rn.Kind == yaml.MappingNode {
		var out []any
		for _, f := range r.fields(n, owner+" traits") {
			t := map[string]any{"type": f.key}
			if v := resolve(f.v); v.Kind == yaml.ScalarNode && v.ShortTag() == "!!bool" {
				if on, _ := r.scalar(v, owner).(bool); !on {
					t["disable"] = true
				}
			} else if props := r.object(f.v, fmt.Sprintf("%s trait %q properties", owner, f.key)); props != nil {
				t["properties"] = props
			}
			out = append(out, t)
		}
		return out
	}
	list, _ := r.value(n, owner+" traits").([]any)
	if list == nil && !isNull(n) {
		r.errorf(n, "%s traits must be a mapping or a list, got %s", owner, kindName(n))
	}
	return list
}

func anyList(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
