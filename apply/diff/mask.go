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

// MaskFields masks, on both sides, every change at, above or under one
// of paths: the fields of the object whose values are secret wherever
// they come from (SOPS-decrypted values; see render/sops.Field). A path
// is a list of map keys from the object's root; a list index in it, or
// a named list item in a change's path, matches any step, so a list that
// holds such a field is masked whole.
func (o *Object) MaskFields(paths [][]string) {
	for i := range o.Changes {
		c := &o.Changes[i]
		if !under(c.segs, paths) {
			continue
		}
		if c.Before != nil {
			c.Before = maskValue(c.Before, MaskBefore)
			if o.Before != nil {
				place(o.Before, c.segs, c.Before)
			}
		}
		if c.After != nil {
			c.After = maskValue(c.After, MaskAfter)
			if o.After != nil {
				place(o.After, c.segs, c.After)
			}
		}
	}
}

// under reports whether a change's path and one of paths are the same,
// or one is a prefix of the other.
func under(segs []seg, paths [][]string) bool {
	for _, p := range paths {
		match := true
		for i := 0; i < len(segs) && i < len(p); i++ {
			if segs[i].item || isIndex(p[i]) {
				continue
			}
			if segs[i].key != p[i] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
