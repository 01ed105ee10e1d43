package cue

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	cuelang "cuelang.org/go/cue"
)

// errIncomplete marks a value that is not concrete; export reports it with
// CUE's own message and position.
var errIncomplete = errors.New("incomplete value")

// export converts a concrete CUE value to plain Go values: map[string]any,
// []any, string, int64, float64, bool and nil. Defaults are taken; hidden
// fields, definitions and optional fields are left out.
func export(v cuelang.Value) (any, error) {
	if d, ok := v.Default(); ok {
		v = d
	}
	switch v.Kind() {
	case cuelang.NullKind:
		return nil, nil
	case cuelang.BoolKind:
		return v.Bool()
	case cuelang.IntKind:
		n, err := v.Int64()
		if err != nil {
			return nil, fmt.Errorf("%v: integer does not fit in 64 bits", v.Path())
		}
		return n, nil
	case cuelang.FloatKind:
		return v.Float64()
	case cuelang.StringKind:
		return v.String()
	case cuelang.BytesKind:
		b, err := v.Bytes()
		return base64.StdEncoding.EncodeToString(b), err
	case cuelang.StructKind:
		return exportStruct(v)
	case cuelang.ListKind:
		return exportList(v)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := v.Validate(cuelang.Concrete(true)); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%v: %w", v.Path(), errIncomplete)
}

func exportStruct(v cuelang.Value) (map[string]any, error) {
	it, err := v.Fields()
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for it.Next() {
		x, err := export(it.Value())
		if err != nil {
			return nil, err
		}
		out[it.Selector().Unquoted()] = x
	}
	return out, nil
}

func exportList(v cuelang.Value) ([]any, error) {
	it, err := v.List()
	if err != nil {
		return nil, err
	}
	out := []any{}
	for it.Next() {
		x, err := export(it.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// fromJSON decodes JSON into plain Go values with integers as int64.
func fromJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return normalizeNumbers(v), nil
}

// normalizeNumbers replaces json.Number with int64 or float64, in place.
func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeNumbers(e)
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

// jsonNumbers copies property values with numbers as JSON would have them
// in CUE: a whole float64 (what a JSON or YAML decoder into any yields for
// 8080) becomes an int64, a json.Number its int64 or float64. KubeVela
// passes properties to CUE as JSON text, where 8080 is an int.
func jsonNumbers(v any) any {
	switch x := v.(type) {
	case nil:
		return map[string]any{}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonValue(e)
		}
		return out
	}
	return jsonValue(v)
}

func jsonValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e)
		}
		return out
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
	case float32:
		return jsonValue(float64(x))
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	}
	return v
}
