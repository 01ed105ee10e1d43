package helm

import (
	"fmt"
	"io/fs"

	"helm.sh/helm/v3/pkg/chartutil"
)

// userValues reads the valuesFiles in order, merges each over the previous
// ones, then merges the inline values on top: the order and the semantics of
// `helm template -f a.yaml -f b.yaml --set-json ...`. The chart's own
// values.yaml is coalesced under the result later, by chartutil, which is
// where a null removes a chart default.
func userValues(fsys fs.FS, dir string, p properties, o Options) (map[string]any, error) {
	out := map[string]any{}
	for _, rel := range p.ValuesFiles {
		name, err := repoPath(dir, rel, "valuesFiles")
		if err != nil {
			return nil, err
		}
		data, err := readCapped(fsys, name, o.MaxFileBytes)
		if err != nil {
			return nil, fmt.Errorf("valuesFiles %q: %w", rel, err)
		}
		vals, err := chartutil.ReadValues(data)
		if err != nil {
			return nil, fmt.Errorf("valuesFiles %q: %s: %w", rel, name, err)
		}
		out = mergeValues(out, vals)
	}
	return mergeValues(out, p.Values), nil
}

// mergeValues merges src into dst: maps merge key by key, recursively, and
// anything else in src replaces what dst holds.
func mergeValues(dst, src map[string]any) map[string]any {
	for k, v := range src {
		sm, sok := v.(map[string]any)
		dm, dok := dst[k].(map[string]any)
		if sok && dok {
			dst[k] = mergeValues(dm, sm)
			continue
		}
		dst[k] = v
	}
	return dst
}
