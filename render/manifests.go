package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// renderManifests reads the objects of a `manifests` component: the YAML
// (or JSON) files of a directory of the repository, or one file. Paths are
// relative to the application's directory and may not leave the
// repository root. Files are read in lexical order; each document must be
// an object with apiVersion and kind, and a v1 List is expanded.
func renderManifests(ctx context.Context, fsys fs.FS, dir string, props map[string]any, o ManifestOptions) ([]*unstructured.Unstructured, error) {
	rel, _ := props["path"].(string)
	recursive, _ := props["recursive"].(bool)
	p, err := repoPath(dir, rel)
	if err != nil {
		return nil, err
	}
	files, err := manifestFiles(ctx, fsys, p, recursive, o)
	if err != nil {
		return nil, err
	}
	var (
		objs  []*unstructured.Unstructured
		total int64
	)
	for _, name := range files {
		data, err := readCapped(fsys, name, o.MaxFileBytes)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", name, err)
		}
		if total += int64(len(data)); total > o.MaxTotalBytes {
			return nil, fmt.Errorf("manifests under %s are larger than %d bytes", p, o.MaxTotalBytes)
		}
		docs, err := decodeYAMLStream(name, data, o.MaxNodes)
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			objs = append(objs, &unstructured.Unstructured{Object: d})
		}
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("manifests path %s holds no objects", p)
	}
	return objs, nil
}

// repoPath resolves rel against the application's directory and refuses a
// result outside the repository root.
func repoPath(dir, rel string) (string, error) {
	if rel == "" {
		return "", errors.New("path is empty")
	}
	if path.IsAbs(rel) {
		return "", fmt.Errorf("path %q must be relative to the application's directory", rel)
	}
	p := path.Join(dir, rel)
	if !fs.ValidPath(p) {
		return "", fmt.Errorf("path %q escapes the repository root", rel)
	}
	return p, nil
}

func manifestFiles(ctx context.Context, fsys fs.FS, p string, recursive bool, o ManifestOptions) ([]string, error) {
	st, err := fs.Stat(fsys, p)
	if err != nil {
		return nil, fmt.Errorf("manifests path %s: %w", p, err)
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = fs.WalkDir(fsys, p, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			if name != p && (!recursive || strings.HasPrefix(d.Name(), ".")) {
				return fs.SkipDir
			}
			return nil
		}
		switch path.Ext(name) {
		case ".yaml", ".yml", ".json":
		default:
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		if len(files) >= o.MaxFiles {
			return fmt.Errorf("manifests path %s has more than %d files", p, o.MaxFiles)
		}
		files = append(files, name)
		return nil
	})
	return files, err
}

func readCapped(fsys fs.FS, name string, max int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("file is larger than %d bytes", max)
	}
	return data, nil
}

// decodeYAMLStream decodes a multi-document YAML stream into objects. Each
// document's size after alias expansion is computed before it is expanded
// and must stay within maxNodes, so a kilobyte alias bomb costs nothing.
func decodeYAMLStream(name string, data []byte, maxNodes int) ([]map[string]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []map[string]any
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", name, err)
		}
		if n.Kind == yaml.DocumentNode && len(n.Content) == 0 {
			continue
		}
		if size := expandedSize(&n, maxNodes, map[*yaml.Node]int{}); size > maxNodes {
			return nil, fmt.Errorf("manifest %s:%d:%d: the document expands to more than %d YAML nodes (an alias bomb?)", name, n.Line, n.Column, maxNodes)
		}
		v, err := nodeValue(&n)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", name, err)
		}
		if v == nil {
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("manifest %s:%d:%d: a document must be a Kubernetes object, not a %T", name, n.Line, n.Column, v)
		}
		items, err := listItems(m)
		if err != nil {
			return nil, fmt.Errorf("manifest %s:%d:%d: %w", name, n.Line, n.Column, err)
		}
		out = append(out, items...)
	}
}

// expandedSize counts the nodes of n with aliases expanded, saturating
// just above limit. Anchored nodes are counted once and memoised.
func expandedSize(n *yaml.Node, limit int, memo map[*yaml.Node]int) int {
	if s, ok := memo[n]; ok {
		return s
	}
	size := 1
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		memo[n] = limit + 1 // a cycle counts as too large
		size += expandedSize(n.Alias, limit, memo)
	}
	for _, c := range n.Content {
		if size > limit {
			break
		}
		size += expandedSize(c, limit, memo)
	}
	if size > limit {
		size = limit + 1
	}
	memo[n] = size
	return size
}

// nodeValue converts a YAML node to plain JSON-like values. Timestamps
// stay strings (as kubectl reads them); merge keys (<<) are honoured.
func nodeValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return nodeValue(n.Content[0])
	case yaml.AliasNode:
		return nodeValue(n.Alias)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := nodeValue(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		return mappingValue(n)
	case yaml.ScalarNode:
		return scalarValue(n)
	}
	return nil, fmt.Errorf("%d:%d: unsupported YAML node", n.Line, n.Column)
}

func mappingValue(n *yaml.Node) (map[string]any, error) {
	out := make(map[string]any, len(n.Content)/2)
	var merges []map[string]any
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%d:%d: a mapping key must be a scalar", k.Line, k.Column)
		}
		val, err := nodeValue(v)
		if err != nil {
			return nil, err
		}
		if k.ShortTag() == "!!merge" {
			switch x := val.(type) {
			case map[string]any:
				merges = append(merges, x)
			case []any:
				for _, e := range x {
					if m, ok := e.(map[string]any); ok {
						merges = append(merges, m)
					}
				}
			}
			continue
		}
		out[k.Value] = val
	}
	for _, m := range merges {
		for k, v := range m {
			if _, ok := out[k]; !ok {
				out[k] = v
			}
		}
	}
	return out, nil
}

func scalarValue(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		err := n.Decode(&b)
		return b, err
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return i, nil
		}
		var f float64
		err := n.Decode(&f)
		return f, err
	case "!!float":
		var f float64
		err := n.Decode(&f)
		return f, err
	default:
		return n.Value, nil
	}
}

// listItems expands a v1 List into its items.
func listItems(m map[string]any) ([]map[string]any, error) {
	if m["kind"] != "List" || m["apiVersion"] != "v1" {
		return []map[string]any{m}, nil
	}
	raw, _ := m["items"].([]any)
	out := make([]map[string]any, 0, len(raw))
	for i, it := range raw {
		obj, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("item %d of the List is not an object", i)
		}
		out = append(out, obj)
	}
	return out, nil
}
