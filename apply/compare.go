package apply

import (
	"encoding/json"
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// provablyUnchanged reports whether applying desired with the field
// manager would leave live exactly as it is, without asking the server.
//
// It holds when the manager's Apply entry in live's managedFields was
// recorded for desired's apiVersion and names exactly the fields desired
// sets (no more, no fewer), and live has desired's value in each of them.
// Server-side apply then changes no value and no ownership, so the write
// is a no-op. The field set's structure says how the server sees each
// list (associative by keys, set, or atomic), so no schema is needed.
// Any doubt (a null, an unusual list, a number the server normalizes)
// answers false, and the caller asks the server with a dry-run.
func provablyUnchanged(desired, live *unstructured.Unstructured, manager string) bool {
	fs, ok := appliedFields(desired, live, manager)
	return ok && coversMap(identityless(desired.Object), live.Object, fs)
}

// appliedFields returns the field set of manager's Apply entry in live,
// when it was recorded for desired's apiVersion.
func appliedFields(desired, live *unstructured.Unstructured, manager string) (map[string]any, bool) {
	if live == nil {
		return nil, false
	}
	var entry *metav1.ManagedFieldsEntry
	for i, e := range live.GetManagedFields() {
		if e.Manager == manager && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == "" {
			entry = &live.GetManagedFields()[i]
			break
		}
	}
	if entry == nil || entry.FieldsV1 == nil || entry.APIVersion != desired.GetAPIVersion() {
		return nil, false
	}
	var fs map[string]any
	if err := json.Unmarshal(entry.FieldsV1.GetRawBytes(), &fs); err != nil {
		return nil, false
	}
	return fs, true
}

// identityless returns a shallow copy without the fields the server keeps
// out of field sets: apiVersion, kind, metadata.name and
// metadata.namespace.
func identityless(obj map[string]any) map[string]any {
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		if k != "apiVersion" && k != "kind" {
			out[k] = v
		}
	}
	md, ok := obj["metadata"].(map[string]any)
	if !ok {
		return out
	}
	m := make(map[string]any, len(md))
	for k, v := range md {
		if k != "name" && k != "namespace" {
			m[k] = v
		}
	}
	if len(m) == 0 {
		delete(out, "metadata")
	} else {
		out["metadata"] = m
	}
	return out
}

// coversMap checks a desired map against the live value and the field
// set node of the map: the same keys, and every value covered.
func coversMap(d map[string]any, l any, fs map[string]any) bool {
	lm, ok := l.(map[string]any)
	if !ok {
		return false
	}
	fields := 0
	for k := range fs {
		switch {
		case k == ".":
		case strings.HasPrefix(k, "f:"):
			fields++
		default:
			return false
		}
	}
	if fields != len(d) {
		return false
	}
	for k, dv := range d {
		child, ok := fs["f:"+k].(map[string]any)
		if !ok {
			return false
		}
		lv, ok := lm[k]
		if !ok || !covers(dv, lv, child) {
			return false
		}
	}
	return true
}

// covers checks one desired value against the live value and its field
// set node.
func covers(d, l any, fs map[string]any) bool {
	switch dv := d.(type) {
	case map[string]any:
		switch {
		case len(dv) == 0:
			return false // an explicitly empty object: let the server decide
		case leaf(fs): // an atomic map or struct
			return jsonEqual(dv, l)
		}
		return coversMap(dv, l, fs)
	case []any:
		ll, ok := l.([]any)
		if !ok {
			return false
		}
		return coversList(dv, ll, fs)
	case nil:
		return false
	default:
		return leaf(fs) && scalarEqual(dv, l)
	}
}

// leaf reports whether a field set node has no children.
func leaf(fs map[string]any) bool {
	for k := range fs {
		if k != "." {
			return false
		}
	}
	return true
}

// coversList checks a list by how the field set records it: k: entries
// for a list keyed by fields, v: entries for a set, none for an atomic
// list.
func coversList(d, l []any, fs map[string]any) bool {
	var keyed, values []string
	for k := range fs {
		switch {
		case k == ".":
		case strings.HasPrefix(k, "k:"):
			keyed = append(keyed, k)
		case strings.HasPrefix(k, "v:"):
			values = append(values, k)
		default:
			return false
		}
	}
	switch {
	case len(keyed) > 0 && len(values) == 0:
		return coversKeyed(d, l, fs, keyed)
	case len(values) > 0 && len(keyed) == 0:
		return coversSet(d, l, values)
	case len(keyed) == 0 && len(values) == 0:
		return len(d) > 0 && jsonEqual(d, l)
	}
	return false
}

// coversKeyed matches every desired item to one k: entry by its key
// fields, and checks it against the live item with the same key, which
// must appear in the same order.
func coversKeyed(d, l []any, fs map[string]any, keyed []string) bool {
	if len(d) != len(keyed) {
		return false
	}
	last := -1
	for _, di := range d {
		dm, ok := di.(map[string]any)
		if !ok {
			return false
		}
		child, key, ok := matchKey(dm, fs, keyed)
		if !ok {
			return false
		}
		pos := findKeyed(l, key)
		if pos <= last {
			return false
		}
		last = pos
		if !coversMap(dm, l[pos], child) {
			return false
		}
	}
	return true
}

// matchKey finds the one k: entry whose key fields the item has with the
// same values. A key field the item lacks was defaulted by the server
// when the key was recorded; it matches as long as this manager does not
// own that field (coversMap then sees the item lacks an owned field) and
// the live item with the full key exists (findKeyed).
func matchKey(item, fs map[string]any, keyed []string) (map[string]any, map[string]any, bool) {
	var found map[string]any
	var foundKey map[string]any
	for _, k := range keyed {
		var key map[string]any
		if err := json.Unmarshal([]byte(strings.TrimPrefix(k, "k:")), &key); err != nil || len(key) == 0 {
			return nil, nil, false
		}
		if !keyMatchesPresent(item, key) {
			continue
		}
		if found != nil {
			return nil, nil, false
		}
		found, _ = fs[k].(map[string]any)
		foundKey = key
	}
	return found, foundKey, found != nil
}

// keyMatchesPresent compares the key fields the item has; it needs at
// least one.
func keyMatchesPresent(item, key map[string]any) bool {
	n := 0
	for f, v := range key {
		if iv, ok := item[f]; ok {
			if !scalarEqual(iv, v) {
				return false
			}
			n++
		}
	}
	return n > 0
}

func keyMatches(item, key map[string]any) bool {
	for f, v := range key {
		iv, ok := item[f]
		if !ok || !scalarEqual(iv, v) {
			return false
		}
	}
	return true
}

// findKeyed returns the index of the live item with the key, or -1.
func findKeyed(l []any, key map[string]any) int {
	found := -1
	for i, li := range l {
		if lm, ok := li.(map[string]any); ok && keyMatches(lm, key) {
			if found >= 0 {
				return -1
			}
			found = i
		}
	}
	return found
}

// coversSet matches scalar items to v: entries and to live items in the
// same order.
func coversSet(d, l []any, values []string) bool {
	if len(d) != len(values) {
		return false
	}
	last := -1
	for _, di := range d {
		ok := false
		for _, v := range values {
			var val any
			if json.Unmarshal([]byte(strings.TrimPrefix(v, "v:")), &val) == nil && scalarEqual(di, val) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
		pos := -1
		for i, li := range l {
			if scalarEqual(di, li) {
				pos = i
				break
			}
		}
		if pos <= last {
			return false
		}
		last = pos
	}
	return true
}

// scalarEqual compares scalars, numbers by value whatever their Go type
// (int64 from the API, float64 from some decoders).
func scalarEqual(a, b any) bool {
	if fa, ok := number(a); ok {
		fb, ok := number(b)
		return ok && fa == fb
	}
	switch a.(type) {
	case string, bool:
		return a == b
	}
	return false
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// jsonEqual compares two values as JSON documents.
func jsonEqual(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		return false
	}
	var va, vb any
	if json.Unmarshal(ja, &va) != nil || json.Unmarshal(jb, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// sameAfterDryRun reports whether the server's dry-run result equals the
// live object it was computed from (same resourceVersion), managedFields
// timestamps aside: then the write would be a no-op.
func sameAfterDryRun(dry, live *unstructured.Unstructured) bool {
	if live == nil || dry == nil || dry.GetResourceVersion() != live.GetResourceVersion() {
		return false
	}
	return reflect.DeepEqual(withoutFieldTimes(dry), withoutFieldTimes(live))
}

func withoutFieldTimes(u *unstructured.Unstructured) map[string]any {
	c := u.DeepCopy()
	mf := c.GetManagedFields()
	for i := range mf {
		mf[i].Time = nil
	}
	c.SetManagedFields(mf)
	return c.Object
}
