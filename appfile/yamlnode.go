package appfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// reader turns the YAML node tree of one file into typed values, recording
// every problem with its position instead of stopping at the first.
type reader struct {
	file string
	errs ErrorList
}

func (r *reader) pos(n *yaml.Node) Position {
	return Position{File: r.file, Line: n.Line, Col: n.Column}
}

func (r *reader) errorf(n *yaml.Node, format string, args ...any) {
	r.errs.add(r.pos(n), format, args...)
}

// yamlLine matches the "yaml: line N: problem" form of parser errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document is one non-empty YAML document of a file. bad is set when the
// document breaks a limit; its top-level keys may still be looked at, but
// nothing below them.
type document struct {
	root *yaml.Node
	// size is the number of nodes the document expands to.
	size int
	bad  *Error
}

// decodeDocuments splits data into its YAML documents and measures each
// against the limits before anything reads it. Empty documents are left
// out. A syntax error stops the decoding.
func decodeDocuments(file string, data []byte, opts ParseOptions) ([]document, ErrorList) {
	var errs ErrorList
	if len(data) > opts.MaxFileBytes {
		errs.add(Position{File: file}, "file is %d bytes, over the limit of %d", len(data), opts.MaxFileBytes)
		return nil, errs
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []document
	for count := 0; ; count++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, errs
		}
		if err != nil {
			errs = append(errs, syntaxError(file, err))
			return nil, errs
		}
		if count >= opts.MaxDocuments {
			errs.add(Position{File: file, Line: doc.Line}, "file has more than %d YAML documents", opts.MaxDocuments)
			return nil, errs
		}
		if len(doc.Content) == 0 || isNull(doc.Content[0]) {
			continue
		}
		d := document{root: doc.Content[0]}
		m := meter{stats: map[*yaml.Node]*nodeStat{}, maxDepth: opts.MaxDepth, maxNodes: opts.MaxNodes}
		var bad *limitError
		if d.size, _, bad = m.visit(d.root, 1); bad != nil {
			d.bad = &Error{Pos: Position{File: file, Line: bad.node.Line, Col: bad.node.Column}, Msg: bad.msg}
		}
		docs = append(docs, d)
	}
}

// parserProblems are the problems that go.yaml.in/yaml/v3 reports from its
// parser rather than its scanner. For those it prints a 0-based line, so
// one is added to point at the right place.
var parserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"found undefined tag handle",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
}

func syntaxError(file string, err error) *Error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if slices.Contains(parserProblems, m[2]) {
			line++
		}
		return &Error{Pos: Position{File: file, Line: line}, Msg: "invalid YAML: " + m[2], Err: err}
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	return &Error{Pos: Position{File: file}, Msg: "invalid YAML: " + msg, Err: err}
}

// nodeStat is what meter knows about a node it has seen: the number of
// nodes it expands to and its height, aliases followed.
type nodeStat struct {
	size, height int
	done         bool
}

// meter bounds a document's expanded size and depth without expanding it:
// every node is measured once, so an alias bomb costs as much as its text.
type meter struct {
	stats    map[*yaml.Node]*nodeStat
	maxDepth int
	maxNodes int
}

type limitError struct {
	node *yaml.Node
	msg  string
}

func (m *meter) visit(n *yaml.Node, depth int) (size, height int, bad *limitError) {
	if depth > m.maxDepth {
		return 0, 0, &limitError{n, fmt.Sprintf("document nests deeper than %d levels", m.maxDepth)}
	}
	if n.Kind == yaml.AliasNode {
		// An anchor always comes before its aliases, so the node an alias
		// names has been measured already, or is being measured when the
		// alias is inside it.
		st, seen := m.stats[n.Alias]
		switch {
		case n.Alias == nil || !seen:
			return 0, 0, &limitError{n, fmt.Sprintf("alias *%s names no anchor", n.Value)}
		case !st.done:
			return 0, 0, &limitError{n, "alias refers to a node that contains it (recursive alias)"}
		case depth+st.height-1 > m.maxDepth:
			return 0, 0, &limitError{n, fmt.Sprintf("document nests deeper than %d levels (aliases followed)", m.maxDepth)}
		}
		return st.size, st.height, nil
	}
	st := &nodeStat{}
	m.stats[n] = st
	size, height = 1, 1
	for _, c := range n.Content {
		cs, ch, bad := m.visit(c, depth+1)
		if bad != nil {
			return 0, 0, bad
		}
		size += cs
		height = max(height, ch+1)
		if size > m.maxNodes {
			return 0, 0, &limitError{n, fmt.Sprintf("document expands to more than %d YAML nodes (aliases counted as copies); refusing to expand it", m.maxNodes)}
		}
	}
	st.size, st.height, st.done = size, height, true
	return size, height, nil
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// kindName names a node's kind for error messages.
func kindName(n *yaml.Node) string {
	n = resolve(n)
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!null":
		return "null"
	case "!!bool":
		return "a boolean"
	case "!!int", "!!float":
		return "a number"
	}
	return "a string"
}

// field is one key of a mapping, merge keys (<<) already applied.
type field struct {
	key  string
	k, v *yaml.Node
}

// fields lists the keys of mapping n in order. Keys a merge key brings in
// come after the explicit ones and never override them. Duplicate keys and
// keys that are not scalars are errors.
func (r *reader) fields(n *yaml.Node, what string) []field {
	n = resolve(n)
	var out, merged []field
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kr := resolve(k)
		if kr.Kind != yaml.ScalarNode {
			r.errorf(k, "%s: a key must be a string, got %s", what, kindName(kr))
			continue
		}
		if kr.ShortTag() == "!!merge" {
			merged = append(merged, r.mergeFields(v, what)...)
			continue
		}
		if prev, dup := seen[kr.Value]; dup {
			r.errorf(k, "%s: duplicate key %q (first at line %d)", what, kr.Value, prev.Line)
			continue
		}
		seen[kr.Value] = k
		out = append(out, field{key: kr.Value, k: k, v: v})
	}
	for _, f := range merged {
		if _, dup := seen[f.key]; !dup {
			seen[f.key] = f.k
			out = append(out, f)
		}
	}
	return out
}

func (r *reader) mergeFields(v *yaml.Node, what string) []field {
	vr := resolve(v)
	switch vr.Kind {
	case yaml.MappingNode:
		return r.fields(vr, what)
	case yaml.SequenceNode:
		var out []field
		for _, item := range vr.Content {
			if resolve(item).Kind != yaml.MappingNode {
				r.errorf(item, "%s: merge key << needs mappings, got %s", what, kindName(item))
				continue
			}
			out = append(out, r.fields(item, what)...)
		}
		return out
	}
	r.errorf(v, "%s: merge key << needs a mapping or a list of mappings, got %s", what, kindName(v))
	return nil
}

// value converts a node to plain data: map[string]any, []any, string,
// int64, float64, bool or nil. Callers have measured the document, so the
// work is bounded.
func (r *reader) value(n *yaml.Node, what string) any {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		fs := r.fields(n, what)
		m := make(map[string]any, len(fs))
		for _, f := range fs {
			m[f.key] = r.value(f.v, what)
		}
		return m
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, c := range n.Content {
			s[i] = r.value(c, what)
		}
		return s
	case yaml.ScalarNode:
		return r.scalar(n, what)
	}
	r.errorf(n, "%s: unexpected YAML node", what)
	return nil
}

func (r *reader) scalar(n *yaml.Node, what string) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			r.errorf(n, "%s: %q is not a boolean", what, n.Value)
		}
		return b
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			r.errorf(n, "%s: integer %s is out of range", what, n.Value)
		}
		return i
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			r.errorf(n, "%s: %s is not a finite number", what, n.Value)
			return nil
		}
		return f
	}
	return n.Value
}

// withoutSOPS drops the metadata SOPS adds to a file it encrypts: a
// top-level "sops" mapping with a "mac". An encrypted application file
// then parses as any other, its encrypted values being ciphertext strings
// ("ENC[AES256_GCM,...]") that the render decrypts after rendering, where
// they land in the objects (docs/secrets.md). Any other "sops" key stays,
// and is an unknown field.
func withoutSOPS(fs []field) []field {
	for i, f := range fs {
		if f.key != "sops" {
			continue
		}
		m := resolve(f.v)
		if m.Kind != yaml.MappingNode {
			return fs
		}
		for j := 0; j+1 < len(m.Content); j += 2 {
			if k := resolve(m.Content[j]); k.Kind == yaml.ScalarNode && k.Value == "mac" {
				return append(fs[:i:i], fs[i+1:]...)
			}
		}
	}
	return fs
}
