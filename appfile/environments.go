package appfile

import (
	"fmt"
	"slices"
)

// defaultNamespace is the namespace of an environment when neither its
// topology policy nor the application names one.
const defaultNamespace = "default"

// Environments derives the environments an application deploys to, in
// workflow order, following KubeVela's topology and override semantics:
//
//   - With a workflow, every deploy step (top-level or inside a step-group)
//     yields one environment per topology policy it names, with the
//     override policies it names, in the order it names them. A deploy step
//     that names no topology policy deploys to DefaultEnv.
//   - Without a workflow (or with an empty one), every topology policy
//     yields an environment, in declaration order, and every override
//     policy applies to each of them, as KubeVela's generated default
//     workflow does. With no topology policy there is one DefaultEnv with
//     all override policies.
//
// An environment deployed twice keeps its first position and its first
// step. The error is an ErrorList.
func Environments(app *Application) ([]Environment, error) {
	var errs ErrorList
	envs := deriveEnvironments(app, &errs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	for i := range envs {
		envs[i].Overrides = clonePolicies(envs[i].Overrides)
		envs[i].Policies = clonePolicies(envs[i].Policies)
	}
	return envs, nil
}

// clonePolicies copies policies deeply, so that environments never share
// mutable properties with each other or with the application.
func clonePolicies(ps []Policy) []Policy {
	if ps == nil {
		return nil
	}
	out := make([]Policy, len(ps))
	for i, p := range ps {
		out[i] = p
		out[i].Properties, _ = cloneValue(p.Properties).(map[string]any)
	}
	return out
}

func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if v == nil {
			return v
		}
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = cloneValue(x)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, x := range v {
			s[i] = cloneValue(x)
		}
		return s
	case []string:
		return slices.Clone(v)
	}
	return v
}

// deriver collects environments in order without duplicates.
type deriver struct {
	app      *Application
	errs     *ErrorList
	policies map[string]*Policy
	// fromTopology records, per environment name, whether a topology
	// policy (true) or the default environment (false) made it.
	fromTopology map[string]bool
	envs         []Environment
	deploys      bool
}

func deriveEnvironments(app *Application, errs *ErrorList) []Environment {
	d := &deriver{app: app, errs: errs, policies: map[string]*Policy{}, fromTopology: map[string]bool{}}
	for i := range app.Policies {
		if _, dup := d.policies[app.Policies[i].Name]; !dup {
			d.policies[app.Policies[i].Name] = &app.Policies[i]
		}
	}
	if app.Workflow == nil || len(app.Workflow.Steps) == 0 {
		d.implicit()
		return d.envs
	}
	d.walk(app.Workflow.Steps)
	if !d.deploys {
		errs.add(app.Workflow.Pos, "application %q: the workflow has no %s step, so the application deploys nowhere", app.Name, DeployStep)
	}
	return d.envs
}

// implicit derives the environments of an application without workflow.
func (d *deriver) implicit() {
	var overrides []Policy
	var topologies []*Policy
	for i, p := range d.app.Policies {
		switch p.Type {
		case OverridePolicy:
			overrides = append(overrides, p)
		case TopologyPolicy:
			topologies = append(topologies, &d.app.Policies[i])
		}
	}
	if len(topologies) == 0 {
		d.add(d.defaultEnv("", overrides, overrides), d.app.Pos, false)
		return
	}
	for _, t := range topologies {
		env := d.topologyEnv(t)
		env.Overrides = overrides
		for _, p := range d.app.Policies {
			if p.Type == OverridePolicy || p.Name == t.Name {
				env.Policies = append(env.Policies, p)
			}
		}
		d.add(env, t.Pos, true)
	}
}

func (d *deriver) walk(steps []WorkflowStep) {
	for i := range steps {
		if steps[i].Type == DeployStep {
			d.deploys = true
			d.deployStep(&steps[i])
		}
		d.walk(steps[i].SubSteps)
	}
}

func (d *deriver) deployStep(s *WorkflowStep) {
	var named, overrides []Policy
	var topologies []*Policy
	for _, name := range d.stepPolicies(s) {
		p := d.policies[name]
		if p == nil {
			d.errs.add(s.Pos, "step %q: policy %q is not defined", s.Name, name)
			continue
		}
		named = append(named, *p)
		switch p.Type {
		case TopologyPolicy:
			topologies = append(topologies, p)
		case OverridePolicy:
			overrides = append(overrides, *p)
		}
	}
	if len(topologies) == 0 {
		d.add(d.defaultEnv(s.Name, overrides, named), s.Pos, false)
		return
	}
	for _, t := range topologies {
		env := d.topologyEnv(t)
		env.Step, env.Overrides, env.Policies = s.Name, overrides, named
		d.add(env, s.Pos, true)
	}
}

// stepPolicies returns the policy names of a deploy step's properties.
func (d *deriver) stepPolicies(s *WorkflowStep) []string {
	switch v := s.Properties["policies"].(type) {
	case nil:
		return nil
	case []string:
		return v
	case []any:
		names := make([]string, 0, len(v))
		for _, item := range v {
			name, ok := item.(string)
			if !ok {
				d.errs.add(s.Pos, "step %q: properties.policies entries must be policy names, got %s", s.Name, valueKind(item))
				continue
			}
			names = append(names, name)
		}
		return names
	default:
		d.errs.add(s.Pos, "step %q: properties.policies must be a list of policy names, got %s", s.Name, valueKind(v))
		return nil
	}
}

func (d *deriver) appNamespace() string {
	if d.app.Namespace != "" {
		return d.app.Namespace
	}
	return defaultNamespace
}

func (d *deriver) defaultEnv(step string, overrides, named []Policy) Environment {
	return Environment{Name: DefaultEnv, Step: step, Namespace: d.appNamespace(), Overrides: overrides, Policies: named}
}

// topologyEnv reads the target of a topology policy: clusters, namespace
// and Carina's serviceAccount.
func (d *deriver) topologyEnv(p *Policy) Environment {
	env := Environment{Name: p.Name, Namespace: d.appNamespace()}
	what := fmt.Sprintf("policy %q", p.Name)
	switch v := p.Properties["clusters"].(type) {
	case nil:
	case []string:
		env.Clusters = slices.Clone(v)
	case []any:
		for _, item := range v {
			name, ok := item.(string)
			if !ok || name == "" {
				d.errs.add(p.Pos, "%s: clusters entries must be cluster names, got %s", what, valueKind(item))
				continue
			}
			env.Clusters = append(env.Clusters, name)
		}
	default:
		d.errs.add(p.Pos, "%s: clusters must be a list of cluster names, got %s", what, valueKind(v))
	}
	if dup := firstDuplicate(env.Clusters); dup != "" {
		d.errs.add(p.Pos, "%s: cluster %q is listed twice", what, dup)
	}
	if ns := d.propString(p, what, "namespace"); ns != "" {
		if !isDNSLabel(ns) {
			d.errs.add(p.Pos, "%s: namespace %q must be %s", what, ns, dnsLabelRule)
		}
		env.Namespace = ns
	}
	env.ServiceAccount = d.propString(p, what, "serviceAccount")
	for _, key := range []string{"clusterLabelSelector", "clusterSelector"} {
		if sel, _ := p.Properties[key].(map[string]any); len(sel) == 0 {
			continue
		}
		if len(env.Clusters) == 0 {
			d.errs.add(p.Pos, "%s: %s is not supported by carina; list the target clusters by name in clusters", what, key)
			continue
		}
		env.Notes = append(env.Notes, fmt.Sprintf("%s is ignored: carina deploys to the clusters listed in clusters", key))
	}
	return env
}

func (d *deriver) propString(p *Policy, what, key string) string {
	v, has := p.Properties[key]
	if !has || v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		d.errs.add(p.Pos, "%s: %s must be a string, got %s", what, key, valueKind(v))
	}
	return s
}

// add appends env unless an environment of that name is already there.
// topo says whether a topology policy made it (rather than the default).
func (d *deriver) add(env Environment, pos Position, topo bool) {
	if prev, seen := d.fromTopology[env.Name]; seen {
		if prev != topo {
			d.errs.add(pos, "environment %q: a topology policy named %q conflicts with the default environment", env.Name, DefaultEnv)
		}
		return
	}
	d.fromTopology[env.Name] = topo
	d.envs = append(d.envs, env)
}

func firstDuplicate(s []string) string {
	seen := map[string]bool{}
	for _, v := range s {
		if seen[v] {
			return v
		}
		seen[v] = true
	}
	return ""
}
