package diff

// Masks shown instead of Secret values. The two differ so that a diff
// still shows that a value changed, without showing either value.
const (
	MaskBefore = "*** (old value)"
	MaskAfter  = "*** (new value)"
)

// lastApplied is the annotation where kubectl copies a whole object,
// Secret data included.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// secretPath reports whether a path holds Secret content.
func secretPath(path []seg) bool {
	if len(path) == 0 {
		return false
	}
	switch path[0].key {
	case "data", "stringData":
		return true
	case "metadata":
		return len(path) >= 3 && path[1].key == "annotations" && path[2].key == lastApplied
	}
	return false
}

// maskSecret replaces Secret values in the changes and the pruned
// objects.
func maskSecret(before, after map[string]any, changes []Change) {
	for i := range changes {
		c := &changes[i]
		if !secretPath(c.segs) {
			continue
		}
		if c.Before != nil {
			c.Before = maskValue(c.Before, MaskBefore)
			if before != nil {
				place(before, c.segs, c.Before)
			}
		}
		if c.After != nil {
			c.After = maskValue(c.After, MaskAfter)
			if after != nil {
				place(after, c.segs, c.After)
			}
		}
	}
}

// maskValue masks a value, or every value of a map.
func maskValue(v any, mask string) any {
	if m, ok := v.(map[string]any); ok {
		out := make(map[string]any, len(m))
		for k := range m {
			out[k] = mask
		}
		return out
	}
	return mask
}
