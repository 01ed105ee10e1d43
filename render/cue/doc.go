// Package cue evaluates KubeVela-format definitions: a component template
// with its parameter and KubeVela's context fields into the component's
// objects (output and outputs), and traits onto those objects with
// KubeVela's patch semantics (plain unification, // +patchKey list merge,
// // +patchStrategy=retainKeys and replace, jsonPatch and jsonMergePatch),
// honouring errs.
//
// Templates are compiled once by the capabilities registry's cache; an
// evaluation fills the compiled value and exports the result to plain Go
// values (map[string]any, []any, string, int64, float64, bool, nil), the
// shape unstructured.Unstructured expects.
//
// CUE evaluation cannot be interrupted. The functions here check ctx
// between steps only; callers bound a whole render by running it in a
// goroutine (see package render), and the worker-process pool will kill a
// runaway evaluation.
//
//	w, err := cue.Component(ctx, webservice, props, c)
//	err = cue.Trait(ctx, scaler, traitProps, c, w)
package cue
