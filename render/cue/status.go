package cue

import (
	"context"
	"fmt"

	cuelang "cuelang.org/go/cue"

	"github.com/carina-gitops/carina/capabilities"
)

// Status is what a definition's status snippets say about the live
// objects it rendered.
type Status struct {
	// HasPolicy is false when the definition has no healthPolicy: the
	// caller decides health by other means (kstatus).
	HasPolicy bool
	Healthy   bool
	// Message is customStatus's message, if any.
	Message string
}

var (
	pathIsHealth = cuelang.MakePath(cuelang.Str("isHealth"))
	pathMessage  = cuelang.MakePath(cuelang.Str("message"))
)

// EvalStatus evaluates a definition's healthPolicy and customStatus with
// KubeVela's context: the context fields, context.output (the live
// workload) and context.outputs (the live auxiliary objects by output
// name), and the component's parameter. It returns when ctx ends even if
// the evaluation does not.
func EvalStatus(ctx context.Context, cache *capabilities.Cache, status capabilities.Status, c Context, params, output map[string]any, outputs map[string]any) (Status, error) {
	type result struct {
		st  Status
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("status of %s panicked: %v", c.Name, p)}
			}
		}()
		st, err := evalStatus(cache, status, c, params, output, outputs)
		done <- result{st, err}
	}()
	select {
	case r := <-done:
		return r.st, r.err
	case <-ctx.Done():
		return Status{}, fmt.Errorf("status of %s stopped: %w", c.Name, ctx.Err())
	}
}

func evalStatus(cache *capabilities.Cache, status capabilities.Status, c Context, params, output map[string]any, outputs map[string]any) (Status, error) {
	fill := c.value(nil, nil)
	if output != nil {
		fill["output"] = output
	}
	if outputs == nil {
		outputs = map[string]any{}
	}
	fill["outputs"] = outputs
	in := map[string]any{"context": fill, "parameter": jsonNumbers(params)}
	st := Status{}
	if status.HealthPolicy != "" {
		v, err := snippet(cache, c.ComponentType+".healthPolicy", status.HealthPolicy, in)
		if err != nil {
			return Status{}, err
		}
		h, err := v.LookupPath(pathIsHealth).Bool()
		if err != nil {
			return Status{}, fmt.Errorf("healthPolicy of %s: isHealth: %w", c.ComponentType, err)
		}
		st.HasPolicy, st.Healthy = true, h
	}
	if status.CustomStatus != "" {
		v, err := snippet(cache, c.ComponentType+".customStatus", status.CustomStatus, in)
		if err != nil {
			return Status{}, err
		}
		if m := v.LookupPath(pathMessage); m.Exists() {
			if st.Message, err = m.String(); err != nil {
				return Status{}, fmt.Errorf("customStatus of %s: message: %w", c.ComponentType, err)
			}
		}
	}
	return st, nil
}

func snippet(cache *capabilities.Cache, name, src string, in map[string]any) (cuelang.Value, error) {
	v, err := cache.Snippet(name, src)
	if err != nil {
		return cuelang.Value{}, err
	}
	//lint:ignore SA1019 every value here comes from the one context of capabilities.Cache, so Context is well defined
	v = v.Unify(v.Context().Encode(in, cuelang.NilIsAny(false)))
	if err := v.Err(); err != nil {
		return cuelang.Value{}, fmt.Errorf("%s: %w", name, err)
	}
	return v, nil
}
