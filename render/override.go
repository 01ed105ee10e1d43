package render

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"slices"

	"github.com/carina-gitops/carina/appfile"
)

// overrideSpec is the properties of an `override` policy.
type overrideSpec struct {
	Components []componentPatch `json:"components"`
	Selector   []string         `json:"selector"`
}

type componentPatch struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Properties map[string]any `json:"properties"`
	Traits     []traitPatch   `json:"traits"`
}

type traitPatch struct {
	Type       string         `json:"type"`
	Properties map[string]any `json:"properties"`
	Disable    bool           `json:"disable"`
}

// k8sName is what a component added by an override must be called.
var k8sName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// applyOverrides applies override policies in order, with KubeVela's
// semantics:
//   - a patch without name changes every component (of its type, if set);
//   - a name (which may hold * wildcards) changes the components it
//     matches; a matched component of another type than the patch's is
//     replaced by the patch; a name that matches nothing adds a component;
//   - properties merge: maps merge key by key, other values replace, and
//     (Carina's addition) null removes a key;
//   - traits merge by type: properties merge, new types are appended and
//     disable: true removes a trait;
//   - selector keeps only the named components.
//
// props are each policy's properties after CUE defaulting. The
// application's components are not modified.
func applyOverrides(comps []appfile.Component, policies []appfile.Policy, props []map[string]any) ([]appfile.Component, error) {
	out := make([]appfile.Component, len(comps))
	for i, c := range comps {
		out[i] = copyComponent(c)
	}
	for i, p := range policies {
		var spec overrideSpec
		if err := remarshal(props[i], &spec); err != nil {
			return nil, fmt.Errorf("%soverride policy %q: %w", at(p.Pos), p.Name, err)
		}
		var err error
		if out, err = applyOverride(out, p, spec); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func applyOverride(comps []appfile.Component, p appfile.Policy, spec overrideSpec) ([]appfile.Component, error) {
	for _, patch := range spec.Components {
		matched := false
		for i := range comps {
			if !patchMatches(patch, comps[i]) {
				continue
			}
			matched = true
			if patch.Name != "" && patch.Type != "" && patch.Type != comps[i].Type {
				comps[i] = newComponent(comps[i].Name, patch, p.Pos)
				continue
			}
			mergeComponent(&comps[i], patch, p.Pos)
		}
		if matched || patch.Name == "" {
			continue
		}
		if !k8sName.MatchString(patch.Name) {
			return nil, fmt.Errorf("%soverride policy %q: component %q matches no component", at(p.Pos), p.Name, patch.Name)
		}
		if patch.Type == "" {
			return nil, fmt.Errorf("%soverride policy %q adds component %q but gives it no type", at(p.Pos), p.Name, patch.Name)
		}
		comps = append(comps, newComponent(patch.Name, patch, p.Pos))
	}
	if len(spec.Selector) > 0 {
		kept := comps[:0:0]
		for _, c := range comps {
			if slices.Contains(spec.Selector, c.Name) {
				kept = append(kept, c)
			}
		}
		comps = kept
	}
	return comps, nil
}

func patchMatches(patch componentPatch, c appfile.Component) bool {
	if patch.Name == "" {
		return patch.Type == "" || patch.Type == c.Type
	}
	ok, err := path.Match(patch.Name, c.Name)
	return err == nil && ok
}

func newComponent(name string, patch componentPatch, pos appfile.Position) appfile.Component {
	c := appfile.Component{Name: name, Type: patch.Type, Properties: deepCopyMap(patch.Properties), Pos: pos}
	for _, t := range patch.Traits {
		if !t.Disable {
			c.Traits = append(c.Traits, appfile.Trait{Type: t.Type, Properties: deepCopyMap(t.Properties), Pos: pos})
		}
	}
	return c
}

func mergeComponent(c *appfile.Component, patch componentPatch, pos appfile.Position) {
	c.Properties = mergeProps(c.Properties, patch.Properties)
	for _, tp := range patch.Traits {
		i := slices.IndexFunc(c.Traits, func(t appfile.Trait) bool { return t.Type == tp.Type })
		switch {
		case i >= 0 && tp.Disable:
			c.Traits = slices.Delete(c.Traits, i, i+1)
		case i >= 0:
			c.Traits[i].Properties = mergeProps(c.Traits[i].Properties, tp.Properties)
		case !tp.Disable:
			c.Traits = append(c.Traits, appfile.Trait{Type: tp.Type, Properties: deepCopyMap(tp.Properties), Pos: pos})
		}
	}
}

// mergeProps merges patch into base (which it owns): maps merge, other
// values replace, null removes the key.
func mergeProps(base, patch map[string]any) map[string]any {
	if base == nil {
		base = map[string]any{}
	}
	for k, pv := range patch {
		if pv == nil {
			delete(base, k)
			continue
		}
		pm, pok := pv.(map[string]any)
		bm, bok := base[k].(map[string]any)
		if pok && bok {
			base[k] = mergeProps(bm, pm)
			continue
		}
		base[k] = deepCopy(pv)
	}
	return base
}

func copyComponent(c appfile.Component) appfile.Component {
	out := c
	out.Properties = deepCopyMap(c.Properties)
	out.Traits = make([]appfile.Trait, len(c.Traits))
	for i, t := range c.Traits {
		out.Traits[i] = t
		out.Traits[i].Properties = deepCopyMap(t.Properties)
	}
	out.DependsOn = slices.Clone(c.DependsOn)
	return out
}

func deepCopyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return deepCopy(m).(map[string]any)
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

// remarshal converts plain values into a typed struct through JSON.
func remarshal(in any, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// at prefixes a message with a position, when it is known.
func at(p appfile.Position) string {
	if s := p.String(); s != "" {
		return s + ": "
	}
	return ""
}
