package sops

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Mask is what a decrypted value shows instead of its plaintext.
const Mask = "*** (sops)"

// Masker knows which fields of a render were decrypted, and keeps their
// plaintext out of what leaves an apply: diffs, status, inventories,
// errors.
type Masker struct {
	byObject map[int][][]string
}

// NewMasker masks fields (what Objects returned).
func NewMasker(fields []Field) *Masker {
	m := &Masker{byObject: map[int][][]string{}}
	for _, f := range fields {
		m.byObject[f.Object] = append(m.byObject[f.Object], f.Path)
	}
	return m
}

// Object returns a deep copy of objs[i] with its decrypted fields masked;
// the original is not changed.
func (m *Masker) Object(i int, obj map[string]any) map[string]any {
	out := deepCopy(obj).(map[string]any)
	for _, p := range m.byObject[i] {
		setPath(out, p, Mask)
	}
	return out
}

// Plaintexts returns the decrypted values of objs as strings, longest
// first, for Redact.
func (m *Masker) Plaintexts(objs []map[string]any) []string {
	seen := map[string]bool{}
	for i, paths := range m.byObject {
		if i < 0 || i >= len(objs) {
			continue
		}
		for _, p := range paths {
			if v, ok := getPath(objs[i], p); ok {
				seen[fmt.Sprint(v)] = true
			}
		}
	}
	out := slices.Collect(maps.Keys(seen))
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// Redact replaces every plaintext of at least 3 bytes in s with Mask,
// also in its base64 form (a Secret's stringData value as its data holds
// it) and in its decoded form (a Secret's data value is base64 already).
// Longer forms are replaced first, so that a value that contains another
// is not left half masked.
func Redact(s string, plaintexts []string) string {
	var forms []string
	for _, p := range plaintexts {
		forms = append(forms, p, base64.StdEncoding.EncodeToString([]byte(p)))
		if b, err := base64.StdEncoding.DecodeString(p); err == nil {
			forms = append(forms, string(b))
		}
	}
	slices.SortStableFunc(forms, func(a, b string) int { return len(b) - len(a) })
	for _, f := range forms {
		if len(f) >= 3 {
			s = strings.ReplaceAll(s, f, Mask)
		}
	}
	return s
}

// HashData returns "sha256:<hex>" over a Secret's data (or stringData)
// map: keys sorted, each value as its JSON. Drift compares Secret data by
// this hash instead of by value, so the value is not kept in memory or
// reported.
func HashData(data map[string]any) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(data)) {
		b, _ := json.Marshal(data[k])
		fmt.Fprintf(h, "%d:%s=%d:%s\n", len(k), k, len(b), b)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// EqualData reports whether two Secret data maps hold the same values,
// by HashData.
func EqualData(a, b map[string]any) bool { return HashData(a) == HashData(b) }

func getPath(v any, p []string) (any, bool) {
	for _, k := range p {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[k]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func setPath(v any, p []string, val any) {
	if len(p) == 0 {
		return
	}
	parent, ok := getPath(v, p[:len(p)-1])
	if !ok {
		return
	}
	last := p[len(p)-1]
	switch x := parent.(type) {
	case map[string]any:
		if _, ok := x[last]; ok {
			x[last] = val
		}
	case []any:
		if i, err := strconv.Atoi(last); err == nil && i >= 0 && i < len(x) {
			x[i] = val
		}
	}
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}
