package cue

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	cuelang "cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	jsonpatch "github.com/evanphx/json-patch/v5"
)

// The comment tags of KubeVela's patch strategies.
const (
	tagPatchKey      = "patchKey"
	tagPatchStrategy = "patchStrategy"

	strategyRetainKeys     = "retainKeys"
	strategyReplace        = "replace"
	strategyJSONPatch      = "jsonPatch"
	strategyJSONMergePatch = "jsonMergePatch"
)

// commentTags reads "// +key=value" lines from doc comments.
func commentTags(groups []*ast.CommentGroup) map[string]string {
	var tags map[string]string
	for _, g := range groups {
		for _, c := range g.List {
			line := strings.TrimSpace(strings.TrimPrefix(c.Text, "//"))
			if !strings.HasPrefix(line, "+") {
				continue
			}
			k, v, ok := strings.Cut(line[1:], "=")
			v = strings.TrimSpace(v)
			if !ok || v == "" || strings.ContainsAny(v, " \t") {
				continue
			}
			if tags == nil {
				tags = map[string]string{}
			}
			tags[strings.TrimSpace(k)] = v
		}
	}
	return tags
}

// fieldTags reads the tags of a field: its doc comments as the value
// reports them, plus the comments of its field in the source. The latter
// matters for shorthand fields: CUE reports the doc of `// c` + `a: b: 1`
// on the innermost field b, while KubeVela reads it on a.
func fieldTags(v cuelang.Value) map[string]string {
	tags := commentTags(v.Doc())
	if f, ok := v.Source().(*ast.Field); ok {
		for k, val := range commentTags(ast.Comments(f)) {
			if tags == nil {
				tags = map[string]string{}
			}
			tags[k] = val
		}
	}
	return tags
}

// patcher applies a trait's patch value to plain Go objects with KubeVela's
// strategic semantics:
//   - structs unify field by field; a scalar the object already holds must
//     equal the patch's (a conflict is an error, as in CUE);
//   - "+patchKey=k" on a list field (inherited by nested lists) merges
//     elements that agree on k (comma-separated keys must all agree),
//     appending the rest; without a key, lists unify index by index, and
//     elements of the object beyond the patch's are kept;
//   - a list pattern [...X] (or [a, ...X]) patches every element of the
//     object's list that no element of the patch matches;
//   - "+patchStrategy=retainKeys" on a field replaces the object's value
//     (for a keyed list: each matched element) with the patch's;
//   - "+patchStrategy=replace" on a list field replaces the whole list.
type patcher struct{}

// merge patches base (which it may modify) and returns the result.
func (p patcher) merge(base any, patch cuelang.Value, key, strategy, path string) (any, error) {
	// The default of an open list is closed: read its pattern first.
	pattern := listPattern(patch)
	if d, ok := patch.Default(); ok {
		patch = d
	}
	switch patch.Kind() {
	case cuelang.StructKind:
		return p.mergeStruct(base, patch, key, path)
	case cuelang.ListKind:
		if strategy == strategyReplace {
			return export(patch)
		}
		return p.mergeList(base, patch, pattern, key, strategy, path)
	case cuelang.BottomKind:
		return p.mergeIncomplete(base, patch, path)
	}
	pv, err := export(patch)
	if err != nil {
		return nil, err
	}
	if base == nil || sameValue(base, pv) {
		return pv, nil
	}
	return nil, fmt.Errorf("%s: conflicting values %s (object) and %s (patch); mark the field // +patchStrategy=retainKeys to override", path, show(base), show(pv))
}

// mergeIncomplete handles a patch value that is not concrete (a type or a
// constraint): the object's value must satisfy it.
func (p patcher) mergeIncomplete(base any, patch cuelang.Value, path string) (any, error) {
	if err := patch.Err(); err != nil {
		return nil, err
	}
	if base == nil {
		return nil, fmt.Errorf("%s: incomplete value %v in the patch and none in the object", path, patch)
	}
	//lint:ignore SA1019 every value here comes from the one context of capabilities.Cache, so Context is well defined
	if err := patch.Unify(patch.Context().Encode(base, cuelang.NilIsAny(false))).Validate(); err != nil {
		return nil, fmt.Errorf("%s: object value %s does not satisfy the patch: %w", path, show(base), err)
	}
	return base, nil
}

func (p patcher) mergeStruct(base any, patch cuelang.Value, key, path string) (any, error) {
	obj, ok := base.(map[string]any)
	if base == nil {
		obj = map[string]any{}
	} else if !ok {
		return nil, fmt.Errorf("%s: the patch has a struct where the object has %s", path, show(base))
	}
	it, err := patch.Fields()
	if err != nil {
		return nil, err
	}
	for it.Next() {
		label := it.Selector().Unquoted()
		fv := it.Value()
		tags := fieldTags(fv)
		fkey := key
		if k := tags[tagPatchKey]; k != "" {
			fkey = k
		}
		strategy := tags[tagPatchStrategy]
		fpath := path + "." + label
		if strategy == strategyRetainKeys && fv.IncompleteKind() != cuelang.ListKind {
			x, err := export(fv)
			if err != nil {
				return nil, err
			}
			obj[label] = x
			continue
		}
		x, err := p.merge(obj[label], fv, fkey, strategy, fpath)
		if err != nil {
			return nil, err
		}
		obj[label] = x
	}
	return obj, nil
}

func (p patcher) mergeList(base any, patch, pattern cuelang.Value, key, strategy, path string) (any, error) {
	list, ok := base.([]any)
	if base != nil && !ok {
		return nil, fmt.Errorf("%s: the patch has a list where the object has %s", path, show(base))
	}
	var elems []cuelang.Value
	it, err := patch.List()
	if err != nil {
		return nil, err
	}
	for it.Next() {
		elems = append(elems, it.Value())
	}
	if key != "" {
		if ids, ok := keyIDs(elems, strings.Split(key, ",")); ok {
			return p.mergeKeyed(list, elems, pattern, ids, strings.Split(key, ","), key, strategy == strategyRetainKeys, path)
		}
	}
	// As KubeVela opens the object's lists before unifying, a shorter patch
	// list changes the first elements and keeps the rest.
	out := make([]any, max(len(elems), len(list)))
	for i := range out {
		var b any
		if i < len(list) {
			b = list[i]
		}
		e := pattern
		if i < len(elems) {
			e = elems[i]
		}
		if !e.Exists() {
			out[i] = b
			continue
		}
		x, err := p.merge(b, e, key, "", fmt.Sprintf("%s[%d]", path, i))
		if err != nil {
			return nil, err
		}
		out[i] = x
	}
	return out, nil
}

// listPattern returns the element pattern of an open list ([...X] or
// [a, ...X]), which applies to every element of the object's list beyond
// the patch's own; it does not exist for a closed list.
func listPattern(patch cuelang.Value) cuelang.Value {
	if patch.IncompleteKind() != cuelang.ListKind || !patch.Allows(cuelang.AnyIndex) {
		return cuelang.Value{}
	}
	pv := patch.LookupPath(cuelang.MakePath(cuelang.AnyIndex))
	if !pv.Exists() || pv.IncompleteKind() == cuelang.TopKind {
		return cuelang.Value{}
	}
	return pv
}

// mergeKeyed merges patch elements into the base elements that have the
// same key values and appends the others.
func (p patcher) mergeKeyed(list []any, elems []cuelang.Value, pattern cuelang.Value, ids []string, keys []string, key string, retain bool, path string) (any, error) {
	used := make([]bool, len(elems))
	out := make([]any, 0, len(list)+len(elems))
	for i, b := range list {
		id, ok := goKeyID(b, keys)
		j := -1
		if ok {
			for k, pid := range ids {
				if !used[k] && pid == id {
					j = k
					break
				}
			}
		}
		epath := fmt.Sprintf("%s[%d]", path, i)
		if j < 0 {
			if pattern.Exists() {
				x, err := p.merge(b, pattern, key, "", epath)
				if err != nil {
					return nil, err
				}
				b = x
			}
			out = append(out, b)
			continue
		}
		used[j] = true
		if retain {
			x, err := export(elems[j])
			if err != nil {
				return nil, err
			}
			out = append(out, x)
			continue
		}
		x, err := p.merge(b, elems[j], key, "", epath)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	for j, e := range elems {
		if used[j] {
			continue
		}
		x, err := p.merge(nil, e, key, "", fmt.Sprintf("%s[%d]", path, len(out)))
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// keyIDs computes each patch element's identity from its key fields; ok is
// false when an element lacks a concrete scalar key (then, as in KubeVela,
// the list unifies by index).
func keyIDs(elems []cuelang.Value, keys []string) ([]string, bool) {
	ids := make([]string, len(elems))
	for i, e := range elems {
		parts := make([]string, len(keys))
		for k, key := range keys {
			v := e.LookupPath(cuelang.ParsePath(strings.TrimSpace(key)))
			if d, ok := v.Default(); ok {
				v = d
			}
			x, err := export(v)
			if err != nil || !isScalar(x) {
				return nil, false
			}
			parts[k] = show(x)
		}
		ids[i] = strings.Join(parts, "\x00")
	}
	return ids, true
}

func goKeyID(elem any, keys []string) (string, bool) {
	parts := make([]string, len(keys))
	for k, key := range keys {
		x, ok := lookupGo(elem, strings.Split(strings.TrimSpace(key), "."))
		if !ok || !isScalar(x) {
			return "", false
		}
		parts[k] = show(x)
	}
	return strings.Join(parts, "\x00"), true
}

func lookupGo(v any, path []string) (any, bool) {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[p]; !ok {
			return nil, false
		}
	}
	return v, true
}

func isScalar(x any) bool {
	switch x.(type) {
	case string, int64, float64, bool:
		return true
	}
	return false
}

// sameValue compares plain values, treating numbers by value.
func sameValue(a, b any) bool {
	if fa, ok := number(a); ok {
		fb, ok := number(b)
		return ok && fa == fb
	}
	return reflect.DeepEqual(a, b)
}

func number(x any) (float64, bool) {
	switch n := x.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func show(x any) string {
	b, err := json.Marshal(x)
	if err != nil {
		return fmt.Sprint(x)
	}
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}

// applyJSONPatch applies RFC 6902 operations to an object.
func applyJSONPatch(obj map[string]any, operations cuelang.Value) (map[string]any, error) {
	ops, err := export(operations)
	if err != nil {
		return nil, err
	}
	opsJSON, err := json.Marshal(ops)
	if err != nil {
		return nil, err
	}
	decoded, err := jsonpatch.DecodePatch(opsJSON)
	if err != nil {
		return nil, fmt.Errorf("json patch: %w", err)
	}
	doc, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	out, err := decoded.Apply(doc)
	if err != nil {
		return nil, fmt.Errorf("json patch: %w", err)
	}
	return decodeObject(out)
}

// applyJSONMergePatch applies an RFC 7396 merge patch to an object.
func applyJSONMergePatch(obj map[string]any, patch cuelang.Value) (map[string]any, error) {
	p, err := export(patch)
	if err != nil {
		return nil, err
	}
	pJSON, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	doc, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	out, err := jsonpatch.MergePatch(doc, pJSON)
	if err != nil {
		return nil, fmt.Errorf("json merge patch: %w", err)
	}
	return decodeObject(out)
}

func decodeObject(data []byte) (map[string]any, error) {
	v, err := fromJSON(data)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("patched object is a %T, not an object", v)
	}
	return m, nil
}
