package render

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/capabilities"
	"github.com/carina-gitops/carina/render/cue"
)

// autodetect is KubeVela's workload type for components whose workload
// type is whatever they render.
const autodetect = "autodetects.core.oam.dev"

// component renders one component with its traits.
func (r *renderer) component(ctx context.Context, c appfile.Component) ([]Object, error) {
	def, err := r.reg.Get(capabilities.KindComponent, c.Type)
	if err != nil {
		return nil, err
	}
	traits, err := r.traitDefs(c)
	if err != nil {
		return nil, err
	}
	cc := r.context(c)
	if def.Attributes.Engine != capabilities.EngineCUE {
		return r.engineComponent(ctx, c, def, traits, cc)
	}
	w, err := cue.Component(ctx, def, c.Properties, cc)
	if err != nil {
		return nil, err
	}
	wtype := def.WorkloadType()
	if (wtype == "" || wtype == autodetect) && w.Output != nil {
		u := toUnstructured(w.Output)
		wtype = capabilities.ResourceType(u.GetAPIVersion(), u.GetKind())
	}
	var problems []error
	for i, t := range c.Traits {
		if !traits[i].AppliesTo(c.Type, wtype) {
			problems = append(problems, notApplicable(t, traits[i], c.Type, wtype))
		}
	}
	if err := r.warn(c, problems); err != nil {
		return nil, err
	}
	// owner[j] is the trait that added w.Outputs[j]; -1 the component.
	owner := slices.Repeat([]int{-1}, len(w.Outputs))
	for i, t := range c.Traits {
		if err := cue.Trait(ctx, traits[i], t.Properties, cc, w); err != nil {
			return nil, fmt.Errorf("%s%w", at(t.Pos), err)
		}
		for len(owner) < len(w.Outputs) {
			owner = append(owner, i)
		}
	}
	return r.workloadObjects(c, def, traits, w, owner), nil
}

// traitDefs resolves the component's traits. The same trait type may be
// attached more than once (each is applied in order, as KubeVela does);
// two traits that conflictsWith names are a warning (an error when
// strict).
func (r *renderer) traitDefs(c appfile.Component) ([]*capabilities.Definition, error) {
	defs := make([]*capabilities.Definition, len(c.Traits))
	var errs []error
	for i, t := range c.Traits {
		d, err := r.reg.Get(capabilities.KindTrait, t.Type)
		if err != nil {
			errs = append(errs, fmt.Errorf("%strait %q: %w", at(t.Pos), t.Type, err))
			continue
		}
		defs[i] = d
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var problems []error
	for i, t := range c.Traits {
		for j := range i {
			if t.Type == c.Traits[j].Type {
				continue
			}
			if defs[i].ConflictsWith(c.Traits[j].Type) || defs[j].ConflictsWith(t.Type) {
				problems = append(problems, fmt.Errorf("%strait %q conflicts with trait %q (at %s) on the same component", at(t.Pos), t.Type, c.Traits[j].Type, c.Traits[j].Pos))
			}
		}
	}
	return defs, r.warn(c, problems)
}

// warn records problems that KubeVela accepts as warnings, or returns them
// as an error when the render is strict.
func (r *renderer) warn(c appfile.Component, problems []error) error {
	if len(problems) == 0 {
		return nil
	}
	if r.opts.Strict {
		return errors.Join(problems...)
	}
	for _, p := range problems {
		r.warnings = append(r.warnings, fmt.Sprintf("component %q: %v", c.Name, p))
	}
	return nil
}

func notApplicable(t appfile.Trait, def *capabilities.Definition, compType, workloadType string) error {
	return fmt.Errorf("%strait %q does not apply to component type %q (workload %s); it applies to %v (%s)",
		at(t.Pos), t.Type, compType, workloadType, def.Attributes.AppliesToWorkloads, def.Pos)
}

// workloadObjects lists what a CUE component rendered: its workload, then
// its own outputs and its traits' outputs in order. owner says which
// trait added each output (see component).
func (r *renderer) workloadObjects(c appfile.Component, def *capabilities.Definition, traits []*capabilities.Definition, w *cue.Workload, owner []int) []Object {
	param := statusParameter(def.Attributes.Status, c.Properties)
	var out []Object
	if w.Output != nil {
		u := toUnstructured(w.Output)
		if u.GetName() == "" {
			u.SetName(c.Name)
		}
		out = append(out, Object{Object: u, Component: c.Name, Env: r.env.Name, Definition: def.String(),
			Workload: true, Health: def.Attributes.Status, Parameter: param})
	}
	for j, o := range w.Outputs {
		obj := Object{Object: toUnstructured(o.Object), Component: c.Name, Env: r.env.Name, Definition: def.String(),
			OutputName: o.Name, Health: def.Attributes.Status, Parameter: param}
		if o.Trait != "" {
			i := slices.IndexFunc(traits, func(td *capabilities.Definition) bool { return td.Name == o.Trait })
			if j < len(owner) && owner[j] >= 0 && traits[owner[j]].Name == o.Trait {
				i = owner[j]
			}
			if i >= 0 {
				td := traits[i]
				obj.Definition, obj.Trait, obj.Health, obj.Stage = td.String(), td.Name, td.Attributes.Status, td.Attributes.Stage
				obj.Parameter = statusParameter(td.Attributes.Status, c.Traits[i].Properties)
			}
		}
		out = append(out, obj)
	}
	return out
}

// statusParameter is the `parameter` a definition's status snippets see:
// the properties it was given, as KubeVela passes them, and only when a
// snippet mentions parameter (the rest need not carry them).
func statusParameter(st capabilities.Status, props map[string]any) map[string]any {
	if !strings.Contains(st.HealthPolicy, "parameter") && !strings.Contains(st.CustomStatus, "parameter") {
		return nil
	}
	return props
}

// engineComponent renders a Helm, Kustomize or manifests component and
// applies each trait to every object it applies to (by the object's
// resource type, "*", or the component type), with context.output set to
// that object.
func (r *renderer) engineComponent(ctx context.Context, c appfile.Component, def *capabilities.Definition, traits []*capabilities.Definition, cc cue.Context) ([]Object, error) {
	props, err := cue.Defaults(ctx, def, c.Properties, cc)
	if err != nil {
		return nil, err
	}
	var objs []*unstructured.Unstructured
	switch def.Attributes.Engine {
	case capabilities.EngineManifests:
		objs, err = renderManifests(ctx, r.fsys, r.app.Dir, props, r.opts.Manifests)
	default:
		objs, err = r.runEngine(ctx, def.Attributes.Engine, c, props)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", def, err)
	}
	out := make([]Object, len(objs))
	for i, u := range objs {
		out[i] = Object{Object: u, Component: c.Name, Env: r.env.Name, Definition: def.String(), Health: def.Attributes.Status,
			Parameter: statusParameter(def.Attributes.Status, c.Properties)}
	}
	for i, t := range c.Traits {
		extra, err := r.traitOnObjects(ctx, c, t, traits[i], cc, out)
		if err != nil {
			return nil, err
		}
		out = append(out, extra...)
	}
	return out, nil
}

// traitOnObjects applies one trait to the engine objects it applies to and
// returns its outputs, identical ones once.
func (r *renderer) traitOnObjects(ctx context.Context, c appfile.Component, t appfile.Trait, td *capabilities.Definition, cc cue.Context, objs []Object) ([]Object, error) {
	var (
		extra   []Object
		applied int
	)
	for j := range objs {
		if objs[j].Trait != "" {
			continue
		}
		u := objs[j].Object
		if !td.AppliesTo(c.Type, capabilities.ResourceType(u.GetAPIVersion(), u.GetKind())) {
			continue
		}
		applied++
		w := &cue.Workload{Output: u.Object}
		if err := cue.Trait(ctx, td, t.Properties, cc, w); err != nil {
			return nil, fmt.Errorf("%son %s: %w", at(t.Pos), objectRef(u), err)
		}
		u.Object = w.Output
		for _, o := range w.Outputs {
			obj := Object{Object: toUnstructured(o.Object), Component: c.Name, Env: r.env.Name, Definition: td.String(),
				Trait: td.Name, OutputName: o.Name, Health: td.Attributes.Status, Stage: td.Attributes.Stage,
				Parameter: statusParameter(td.Attributes.Status, t.Properties)}
			if !slices.ContainsFunc(extra, func(e Object) bool { return reflect.DeepEqual(e.Object.Object, obj.Object.Object) }) {
				extra = append(extra, obj)
			}
		}
	}
	if applied == 0 {
		return nil, fmt.Errorf("%strait %q applies to none of the component's objects; it applies to %v (%s)", at(t.Pos), t.Type, td.Attributes.AppliesToWorkloads, td.Pos)
	}
	return extra, nil
}
