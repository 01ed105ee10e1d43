package appfile

import (
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

// mapping returns the fields of n, or reports that n is not a mapping. A
// null node is an empty mapping.
func (r *reader) mapping(n *yaml.Node, what string) ([]field, bool) {
	if isNull(n) {
		return nil, true
	}
	if resolve(n).Kind != yaml.MappingNode {
		r.errorf(n, "%s must be a mapping, got %s", what, kindName(n))
		return nil, false
	}
	return r.fields(n, what), true
}

// keys holds the fields of a mapping by key, after strict checking.
type keys map[string]field

// get returns the value node of key, or nil.
func (k keys) get(key string) *yaml.Node {
	if f, ok := k[key]; ok {
		return f.v
	}
	return nil
}

// known checks fields against the keys a mapping may have. Keys listed in
// unsupported are valid KubeVela but not implemented by Carina; any other
// unknown key is reported as unknown.
func (r *reader) known(fs []field, what string, allowed, unsupported []string) keys {
	out := make(keys, len(fs))
	for _, f := range fs {
		switch {
		case slices.Contains(allowed, f.key):
			out[f.key] = f
		case slices.Contains(unsupported, f.key):
			r.errorf(f.k, "%s: field %q is not supported by carina", what, f.key)
		default:
			r.errorf(f.k, "%s: unknown field %q", what, f.key)
		}
	}
	return out
}

// strictMapping is mapping followed by known.
func (r *reader) strictMapping(n *yaml.Node, what string, allowed, unsupported []string) (keys, bool) {
	fs, ok := r.mapping(n, what)
	if !ok {
		return nil, false
	}
	return r.known(fs, what, allowed, unsupported), true
}

// str returns a string scalar. A missing or null node gives "".
func (r *reader) str(n *yaml.Node, what string) string {
	if isNull(n) {
		return ""
	}
	rn := resolve(n)
	if rn.Kind != yaml.ScalarNode || rn.ShortTag() != "!!str" {
		r.errorf(n, "%s must be a string, got %s", what, kindName(n))
		return ""
	}
	return rn.Value
}

// boolean returns a boolean scalar. A missing or null node gives false.
func (r *reader) boolean(n *yaml.Node, what string) bool {
	if isNull(n) {
		return false
	}
	rn := resolve(n)
	if rn.Kind != yaml.ScalarNode || rn.ShortTag() != "!!bool" {
		r.errorf(n, "%s must be a boolean, got %s", what, kindName(n))
		return false
	}
	b, _ := r.scalar(rn, what).(bool)
	return b
}

// list returns the items of a sequence. A missing or null node gives nil.
func (r *reader) list(n *yaml.Node, what string) []*yaml.Node {
	if isNull(n) {
		return nil
	}
	rn := resolve(n)
	if rn.Kind != yaml.SequenceNode {
		r.errorf(n, "%s must be a list, got %s", what, kindName(n))
		return nil
	}
	return rn.Content
}

// strList returns a list of strings.
func (r *reader) strList(n *yaml.Node, what string) []string {
	items := r.list(n, what)
	if items == nil {
		return nil
	}
	out := make([]string, 0, len(items))
	for _, item := range items {
		if s := r.str(item, what+" entry"); s != "" {
			out = append(out, s)
		} else if isNull(item) {
			r.errorf(item, "%s entry must be a string, got null", what)
		}
	}
	return out
}

// strMap returns a mapping of strings to strings.
func (r *reader) strMap(n *yaml.Node, what string) map[string]string {
	fs, ok := r.mapping(n, what)
	if !ok || len(fs) == 0 {
		return nil
	}
	out := make(map[string]string, len(fs))
	for _, f := range fs {
		if isNull(f.v) {
			out[f.key] = ""
			continue
		}
		out[f.key] = r.str(f.v, fmt.Sprintf("%s %q", what, f.key))
	}
	return out
}

// object returns a mapping as plain data. A missing or null node gives nil.
func (r *reader) object(n *yaml.Node, what string) map[string]any {
	if isNull(n) {
		return nil
	}
	if resolve(n).Kind != yaml.MappingNode {
		r.errorf(n, "%s must be a mapping, got %s", what, kindName(n))
		return nil
	}
	m, _ := r.value(n, what).(map[string]any)
	if len(m) == 0 {
		return nil
	}
	return m
}
