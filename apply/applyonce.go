package apply

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// pathStep is one step of an apply-once path: a map key, or a list index
// when index >= 0.
type pathStep struct {
	key   string
	index int
}

// parsePath parses paths like spec.replicas or
// spec.template.spec.containers[0].image.
func parsePath(p string) ([]pathStep, error) {
	var steps []pathStep
	for _, part := range strings.Split(p, ".") {
		key, rest, _ := strings.Cut(part, "[")
		if key == "" {
			return nil, fmt.Errorf("apply-once path %q: empty field name", p)
		}
		steps = append(steps, pathStep{key: key, index: -1})
		for rest != "" {
			idx, after, ok := strings.Cut(rest, "]")
			n, err := strconv.Atoi(idx)
			if !ok || err != nil || n < 0 {
				return nil, fmt.Errorf("apply-once path %q: bad index [%s", p, rest)
			}
			steps = append(steps, pathStep{index: n})
			rest = strings.TrimPrefix(after, "[")
			if after != "" && !strings.HasPrefix(after, "[") {
				return nil, fmt.Errorf("apply-once path %q: unexpected %q", p, after)
			}
		}
	}
	return steps, nil
}

func lookupPath(obj any, steps []pathStep) (any, bool) {
	cur := obj
	for _, s := range steps {
		if s.index >= 0 {
			l, ok := cur.([]any)
			if !ok || s.index >= len(l) {
				return nil, false
			}
			cur = l[s.index]
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[s.key]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// setPath sets a value where the path's parent exists; it reports
// whether it could.
func setPath(obj any, steps []pathStep, v any) bool {
	parent, ok := lookupPath(obj, steps[:len(steps)-1])
	if !ok {
		return false
	}
	last := steps[len(steps)-1]
	if last.index >= 0 {
		l, ok := parent.([]any)
		if !ok || last.index >= len(l) {
			return false
		}
		l[last.index] = v
		return true
	}
	m, ok := parent.(map[string]any)
	if ok {
		m[last.key] = v
	}
	return ok
}

// keepLive returns a copy of desired in which each apply-once path holds
// live's value, so that applying it keeps that value (and Carina keeps
// owning the field rather than dropping it). Paths live lacks keep the
// desired value.
func keepLive(desired, live *unstructured.Unstructured, paths []string) (*unstructured.Unstructured, error) {
	out := desired.DeepCopy()
	for _, p := range paths {
		steps, err := parsePath(p)
		if err != nil {
			return nil, err
		}
		v, ok := lookupPath(live.Object, steps)
		if !ok {
			continue
		}
		setPath(out.Object, steps, runtime.DeepCopyJSONValue(v))
	}
	return out, nil
}
