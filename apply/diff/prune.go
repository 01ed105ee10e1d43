package diff

// prune returns a copy of obj holding only the values at the changes'
// paths, plus the name of each list item on the way so that a reader can
// place it. Paths obj lacks are left out.
func prune(obj map[string]any, changes []Change) map[string]any {
	if obj == nil {
		return nil
	}
	out := map[string]any{}
	for _, c := range changes {
		if v, ok := lookup(obj, c.segs); ok {
			place(out, c.segs, v)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func lookup(obj any, path []seg) (any, bool) {
	cur := obj
	for _, s := range path {
		if s.item {
			item, ok := findItem(cur, s.key)
			if !ok {
				return nil, false
			}
			cur = item
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

func findItem(list any, name string) (map[string]any, bool) {
	l, _ := list.([]any)
	for _, it := range l {
		if m, ok := it.(map[string]any); ok && m["name"] == name {
			return m, true
		}
	}
	return nil, false
}

// place sets v at path in out, creating maps and named list items.
func place(out map[string]any, path []seg, v any) {
	var cur any = out
	for i, s := range path {
		last := i == len(path)-1
		if s.item {
			l, _ := cur.([]any)
			item, ok := findItem(l, s.key)
			if !ok {
				item = map[string]any{"name": s.key}
				l = append(l, item)
				setList(out, path[:i], l)
			}
			if last {
				if mv, ok := v.(map[string]any); ok {
					for k, val := range mv {
						item[k] = val
					}
				}
				return
			}
			cur = item
			continue
		}
		m := cur.(map[string]any)
		if last {
			m[s.key] = v
			return
		}
		next, ok := m[s.key]
		if !ok {
			if path[i+1].item {
				next = []any{}
			} else {
				next = map[string]any{}
			}
			m[s.key] = next
		}
		cur = next
	}
}

// setList stores l at path (the list's own path) in out; appending to a
// list may have moved it.
func setList(out map[string]any, path []seg, l []any) {
	parent, _ := lookup(out, path[:len(path)-1])
	if m, ok := parent.(map[string]any); ok {
		m[path[len(path)-1].key] = l
	}
}
