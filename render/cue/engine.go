package cue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	cuelang "cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"
	cuejson "cuelang.org/go/encoding/json"

	"github.com/carina-gitops/carina/capabilities"
)

// Output is one auxiliary object of a component.
type Output struct {
	// Name is its name under outputs.
	Name string
	// Trait is the trait type that produced it; "" for the component.
	Trait  string
	Object map[string]any
}

// Workload is what a component rendered, patched in place by its traits.
type Workload struct {
	// Output is the component's main object (its workload); nil when the
	// component has none.
	Output  map[string]any
	Outputs []Output
}

func (w *Workload) outputsByName() map[string]any {
	m := make(map[string]any, len(w.Outputs))
	for _, o := range w.Outputs {
		m[o.Name] = o.Object
	}
	return m
}

// Fields of a template.
var (
	pathOutput       = cuelang.MakePath(cuelang.Str("output"))
	pathOutputs      = cuelang.MakePath(cuelang.Str("outputs"))
	pathPatch        = cuelang.MakePath(cuelang.Str("patch"))
	pathPatchOutputs = cuelang.MakePath(cuelang.Str("patchOutputs"))
	pathErrs         = cuelang.MakePath(cuelang.Str("errs"))
	pathParameter    = cuelang.MakePath(cuelang.Str("parameter"))
	pathOperations   = cuelang.MakePath(cuelang.Str("operations"))
)

// Component evaluates a component definition with its properties and
// context, and returns its output and outputs.
func Component(ctx context.Context, def *capabilities.Definition, props map[string]any, c Context) (*Workload, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t, err := evaluate(def, props, c.value(def, nil))
	if err != nil {
		return nil, err
	}
	w := &Workload{}
	if out := t.LookupPath(pathOutput); out.Exists() {
		if w.Output, err = exportObject(def, out); err != nil {
			return nil, err
		}
		// As KubeVela does, a workload without a name is named after the
		// component before traits see it.
		if md, ok := w.Output["metadata"].(map[string]any); !ok {
			w.Output["metadata"] = map[string]any{"name": c.Name}
		} else if n, _ := md["name"].(string); n == "" {
			md["name"] = c.Name
		}
	}
	if w.Outputs, err = exportOutputs(def, t, ""); err != nil {
		return nil, err
	}
	return w, nil
}

// Trait evaluates a trait definition against a workload: it appends the
// trait's outputs, then applies patch to the workload's output and
// patchOutputs to the outputs of that name. w is modified in place; on
// error it may be partly patched and must be discarded.
func Trait(ctx context.Context, def *capabilities.Definition, props map[string]any, c Context, w *Workload) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t, err := evaluate(def, props, c.value(def, w))
	if err != nil {
		return err
	}
	outs, err := exportOutputs(def, t, def.Name)
	if err != nil {
		return err
	}
	w.Outputs = append(w.Outputs, outs...)
	if pv := t.LookupPath(pathPatch); pv.Exists() {
		if w.Output == nil {
			return errorAt(def, pv, "the trait patches the component's workload, but the component has none")
		}
		if w.Output, err = applyPatch(def, w.Output, pv); err != nil {
			return err
		}
	}
	if po := t.LookupPath(pathPatchOutputs); po.Exists() {
		it, err := po.Fields()
		if err != nil {
			return cueError(def, err)
		}
		for it.Next() {
			name := it.Selector().Unquoted()
			for i := range w.Outputs {
				if w.Outputs[i].Name != name {
					continue
				}
				if w.Outputs[i].Object, err = applyPatch(def, w.Outputs[i].Object, it.Value()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Defaults evaluates a definition's parameter with the given properties
// and returns them completed with the definition's defaults. It is how
// properties of Go-engine components and of policies are validated.
func Defaults(ctx context.Context, def *capabilities.Definition, props map[string]any, c Context) (map[string]any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t, err := evaluate(def, props, c.value(def, nil))
	if err != nil {
		return nil, err
	}
	p := t.LookupPath(pathParameter)
	if !p.Exists() {
		return map[string]any{}, nil
	}
	x, err := export(p)
	if err != nil {
		return nil, cueError(def, err)
	}
	m, ok := x.(map[string]any)
	if !ok {
		return nil, errorAt(def, p, "parameter is a %T, not a struct", x)
	}
	return m, nil
}

// evaluate fills a definition's context and parameter and checks the
// parameters and errs.
func evaluate(def *capabilities.Definition, props map[string]any, ctxValue map[string]any) (cuelang.Value, error) {
	root, err := def.Template()
	if err != nil {
		return cuelang.Value{}, fmt.Errorf("%s: %w", def, err)
	}
	// Encode with nil as null: a null property (a JSON merge patch deleting
	// a key, a label set to null) must stay null, not become top.
	//lint:ignore SA1019 every value here comes from the one context of capabilities.Cache, so Context is well defined
	cc := root.Context()
	// One fill of both: each fill finalizes the whole value.
	fill := map[string]any{
		"context":  ctxValue,
		"template": map[string]any{"parameter": jsonNumbers(props)},
	}
	fv, err := fillValue(cc, fill)
	if err != nil {
		return cuelang.Value{}, fmt.Errorf("%s: %w", def, err)
	}
	v := root.Unify(fv)
	t := v.LookupPath(capabilities.TemplatePath)
	if err := checkParameters(def, t); err != nil {
		return cuelang.Value{}, err
	}
	if err := checkErrs(def, t); err != nil {
		return cuelang.Value{}, err
	}
	return t, nil
}

// fillValue builds the context and parameter as CUE data from their JSON,
// as KubeVela does. A value made with Context.Encode is not the same to the
// evaluator: KubeVela's env, command and container-ports traits test
// _baseContainer.env == _|_ on a container taken from context.output, and
// with an encoded output that test is true even when the container has env.
func fillValue(cc *cuelang.Context, fill map[string]any) (cuelang.Value, error) {
	data, err := json.Marshal(fill)
	if err != nil {
		return cuelang.Value{}, err
	}
	expr, err := cuejson.Extract("context", data)
	if err != nil {
		return cuelang.Value{}, err
	}
	v := cc.BuildExpr(expr)
	return v, v.Err()
}

// checkParameters reports every parameter of the wrong type and every
// required parameter that is missing.
func checkParameters(def *capabilities.Definition, t cuelang.Value) error {
	p := t.LookupPath(pathParameter)
	if !p.Exists() {
		return nil
	}
	err := p.Validate(cuelang.Concrete(true))
	if err == nil {
		return nil
	}
	errs := cueErrors(def, err)
	for _, e := range errs {
		var ce *Error
		if !errors.As(e, &ce) || ce.Parameter == "" {
			continue
		}
		fv := p.LookupPath(selectorPath(ce.path[2:]))
		if fv.Exists() && fv.Err() == nil && !fv.IsConcrete() {
			ce.Msg = fmt.Sprintf("is required but not set (want %v)", fv)
		}
	}
	return errors.Join(groupByParameter(errs)...)
}

// groupByParameter merges the errors of one parameter into one: a value
// that matches no alternative of a disjunction yields a header ("2 errors
// in empty disjunction") and one error per alternative, which read better
// as one line.
func groupByParameter(errs []error) []error {
	var out []error
	byParam := map[string]*Error{}
	for _, e := range errs {
		var ce *Error
		if !errors.As(e, &ce) || ce.Parameter == "" {
			out = append(out, e)
			continue
		}
		if strings.Contains(ce.Msg, "errors in empty disjunction") {
			if _, ok := byParam[ce.Parameter]; !ok {
				byParam[ce.Parameter] = &Error{Definition: ce.Definition, Parameter: ce.Parameter}
				out = append(out, byParam[ce.Parameter])
			}
			continue
		}
		g, ok := byParam[ce.Parameter]
		if !ok {
			byParam[ce.Parameter] = ce
			out = append(out, ce)
			continue
		}
		if g.Msg == "" {
			g.Msg = ce.Msg
		} else {
			g.Msg += "; " + ce.Msg
		}
		for _, p := range ce.Pos {
			if !slices.Contains(g.Pos, p) {
				g.Pos = append(g.Pos, p)
			}
		}
	}
	return out
}

// checkErrs turns the non-empty strings of the template's errs into
// errors.
func checkErrs(def *capabilities.Definition, t cuelang.Value) error {
	ev := t.LookupPath(pathErrs)
	if !ev.Exists() {
		return nil
	}
	x, err := export(ev)
	if err != nil {
		return cueError(def, err)
	}
	list, ok := x.([]any)
	if !ok {
		return errorAt(def, ev, "errs must be a list of strings, not %T", x)
	}
	var errs []error
	for _, item := range list {
		if s, ok := item.(string); ok && s != "" {
			errs = append(errs, errorAt(def, ev, "%s", s))
		}
	}
	return errors.Join(errs...)
}

func exportObject(def *capabilities.Definition, v cuelang.Value) (map[string]any, error) {
	x, err := export(v)
	if err != nil {
		return nil, cueError(def, err)
	}
	m, ok := x.(map[string]any)
	if !ok {
		return nil, errorAt(def, v, "%v must be a Kubernetes object (a struct), not %T", v.Path(), x)
	}
	return m, nil
}

// exportOutputs exports the regular fields of outputs in order.
func exportOutputs(def *capabilities.Definition, t cuelang.Value, trait string) ([]Output, error) {
	ov := t.LookupPath(pathOutputs)
	if !ov.Exists() {
		return nil, nil
	}
	it, err := ov.Fields()
	if err != nil {
		return nil, cueError(def, err)
	}
	var outs []Output
	for it.Next() {
		obj, err := exportObject(def, it.Value())
		if err != nil {
			return nil, err
		}
		outs = append(outs, Output{Name: it.Selector().Unquoted(), Trait: trait, Object: obj})
	}
	return outs, nil
}

// applyPatch applies a patch value to an object with the strategy its doc
// comment names.
func applyPatch(def *capabilities.Definition, obj map[string]any, pv cuelang.Value) (map[string]any, error) {
	var (
		out map[string]any
		err error
	)
	switch fieldTags(pv)[tagPatchStrategy] {
	case strategyJSONPatch:
		out, err = applyJSONPatch(obj, pv.LookupPath(pathOperations))
	case strategyJSONMergePatch:
		out, err = applyJSONMergePatch(obj, pv)
	default:
		var x any
		x, err = patcher{}.merge(obj, pv, "", "", "patch")
		out, _ = x.(map[string]any)
	}
	if err != nil {
		if _, ok := err.(cueerrors.Error); ok {
			return nil, cueError(def, err)
		}
		return nil, errorAt(def, pv, "%v", err)
	}
	return out, nil
}
