package kustomize

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/yaml"
)

// SubstituteAnnotation, set to "disabled" on an object, keeps substitution
// away from it (Flux has the same switch under its own name).
const SubstituteAnnotation = "kustomize.carina.dev/substitute"

// toObjects converts kustomize's resources into objects, substituting
// variables when vars is not empty, within the object and size caps.
func toObjects(m resmap.ResMap, vars map[string]string, o Options) ([]*unstructured.Unstructured, error) {
	if m.Size() > o.MaxObjects {
		return nil, fmt.Errorf("output has %d objects, over the cap of %d", m.Size(), o.MaxObjects)
	}
	out := make([]*unstructured.Unstructured, 0, m.Size())
	var size int64
	for _, res := range m.Resources() {
		obj, n, err := toObject(res, vars, o.StrictSubstitute)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", res.CurId(), err)
		}
		size += n
		if size > o.MaxOutputBytes {
			return nil, fmt.Errorf("output is over the cap of %d bytes", o.MaxOutputBytes)
		}
		out = append(out, obj)
	}
	return out, nil
}

func toObject(res *resource.Resource, vars map[string]string, strict bool) (*unstructured.Unstructured, int64, error) {
	var obj map[string]any
	if len(vars) > 0 && res.GetAnnotations()[SubstituteAnnotation] != "disabled" {
		y, err := res.AsYAML()
		if err != nil {
			return nil, 0, err
		}
		y, err = substitute(y, vars, strict)
		if err != nil {
			return nil, 0, err
		}
		js, err := yaml.YAMLToJSON(y)
		if err != nil {
			return nil, 0, fmt.Errorf("after substitution: %w", err)
		}
		if err := utiljson.Unmarshal(js, &obj); err != nil {
			return nil, 0, fmt.Errorf("after substitution: %w", err)
		}
		if obj == nil {
			return nil, 0, errors.New("after substitution: empty object")
		}
		return &unstructured.Unstructured{Object: obj}, int64(len(js)), nil
	}
	raw, err := res.Map()
	if err != nil {
		return nil, 0, err
	}
	v, n := jsonValue(raw)
	obj, _ = v.(map[string]any)
	return &unstructured.Unstructured{Object: obj}, n, nil
}

// jsonValue converts a value decoded from YAML into the types unstructured
// objects hold (int64 for integers, string keys), and counts its size as
// the bytes of its keys and scalars.
func jsonValue(v any) (any, int64) {
	switch v := v.(type) {
	case map[string]any:
		n := int64(2)
		for k, e := range v {
			c, m := jsonValue(e)
			v[k] = c
			n += int64(len(k)) + m + 2
		}
		return v, n
	case map[any]any:
		out := make(map[string]any, len(v))
		n := int64(2)
		for k, e := range v {
			ks := fmt.Sprint(k)
			c, m := jsonValue(e)
			out[ks] = c
			n += int64(len(ks)) + m + 2
		}
		return out, n
	case []any:
		n := int64(2)
		for i, e := range v {
			c, m := jsonValue(e)
			v[i] = c
			n += m + 1
		}
		return v, n
	case string:
		return v, int64(len(v)) + 2
	case int:
		return int64(v), 8
	case int32:
		return int64(v), 8
	case uint64:
		return int64(v), 8
	case uint:
		return int64(v), 8
	default:
		return v, 8 // int64, float64, bool, nil
	}
}
