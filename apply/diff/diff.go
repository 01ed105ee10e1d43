package diff

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Action is what applying would do to an object.
type Action string

// Actions.
const (
	Create    Action = "create"
	Update    Action = "update"
	Delete    Action = "delete"
	Unchanged Action = "unchanged"
)

// Change is one field that would change. Before is absent for a field
// that would be added, After for one that would be removed.
type Change struct {
	Path   string `json:"path"`
	Before any    `json:"before,omitempty"`
	After  any    `json:"after,omitempty"`

	segs []seg
}

// seg is one step of a path: a map key, or the list item with a name.
type seg struct {
	key  string
	item bool
}

func pathString(segs []seg) string {
	var b strings.Builder
	for _, s := range segs {
		switch {
		case s.item:
			fmt.Fprintf(&b, "[name=%s]", s.key)
		case strings.ContainsAny(s.key, ".[]"):
			fmt.Fprintf(&b, "[%q]", s.key)
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.key)
		}
	}
	return b.String()
}

// Object is the diff of one object.
type Object struct {
	// Ref prints the object as Kind/namespace/name.
	Ref    string `json:"object"`
	Action Action `json:"action"`
	// Changes lists the changed fields, in path order.
	Changes []Change `json:"changes,omitempty"`
	// Before and After hold only the changed fields (and list item names
	// to place them), with Secret values masked.
	Before map[string]any `json:"-"`
	After  map[string]any `json:"-"`
}

// Changed reports whether the object would change.
func (o Object) Changed() bool { return o.Action != Unchanged }

// Compute compares the live object with the server's dry-run result of
// applying the desired one. Either may be nil (create, delete). Fields
// that only the server sets or that always differ are ignored: status,
// metadata.managedFields, resourceVersion, generation, uid,
// creationTimestamp. Secret values are masked.
func Compute(ref string, live, merged *unstructured.Unstructured) Object {
	before, after := clean(live), clean(merged)
	o := Object{Ref: ref}
	switch {
	case before == nil && after == nil:
		o.Action = Unchanged
		return o
	case before == nil:
		o.Action = Create
	case after == nil:
		o.Action = Delete
	default:
		o.Action = Update
	}
	var changes []Change
	walk(nil, before, after, &changes)
	if len(changes) == 0 {
		o.Action = Unchanged
		return o
	}
	o.Before, o.After = prune(before, changes), prune(after, changes)
	if isSecret(live) || isSecret(merged) {
		maskSecret(o.Before, o.After, changes)
	}
	o.Changes = changes
	return o
}

func isSecret(u *unstructured.Unstructured) bool {
	return u != nil && u.GetKind() == "Secret" && u.GroupVersionKind().Group == ""
}

// noise are metadata fields the server owns.
var noise = []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink"}

func clean(u *unstructured.Unstructured) map[string]any {
	if u == nil {
		return nil
	}
	obj := u.DeepCopy().Object
	delete(obj, "status")
	if md, ok := obj["metadata"].(map[string]any); ok {
		for _, k := range noise {
			delete(md, k)
		}
	}
	return obj
}

// walk appends the leaf paths where a and b differ. Lists whose items all
// have a name are compared item by item ([name=x]); other lists are
// compared whole.
func walk(path []seg, a, b any, out *[]Change) {
	if reflect.DeepEqual(a, b) {
		return
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok || (a == nil && bok) || (aok && b == nil) {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for _, k := range slices.Sorted(mapsKeys(keys)) {
			walk(appendSeg(path, seg{key: k}), am[k], bm[k], out)
		}
		return
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok && named(al) && named(bl) {
		walkNamed(path, al, bl, out)
		return
	}
	*out = append(*out, Change{Path: pathString(path), Before: a, After: b, segs: path})
}

func walkNamed(path []seg, a, b []any, out *[]Change) {
	index := func(l []any) map[string]any {
		m := map[string]any{}
		for _, it := range l {
			m[it.(map[string]any)["name"].(string)] = it
		}
		return m
	}
	am, bm := index(a), index(b)
	var names []string
	for _, l := range [][]any{a, b} {
		for _, it := range l {
			if n := it.(map[string]any)["name"].(string); !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	for _, n := range names {
		walk(appendSeg(path, seg{key: n, item: true}), am[n], bm[n], out)
	}
}

// named reports whether every item is a map with a unique string name.
func named(l []any) bool {
	seen := map[string]bool{}
	for _, it := range l {
		m, ok := it.(map[string]any)
		if !ok {
			return false
		}
		n, ok := m["name"].(string)
		if !ok || seen[n] {
			return false
		}
		seen[n] = true
	}
	return len(l) > 0
}

// appendSeg returns a new path: walk keeps the paths of changes, so they
// must not share backing arrays.
func appendSeg(path []seg, s seg) []seg {
	return append(slices.Clip(path), s)
}

func mapsKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
