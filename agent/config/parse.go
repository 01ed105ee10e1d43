package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// MaxFileBytes bounds a configuration file.
const MaxFileBytes = 1 << 20

// Load reads and parses the file at path; see Parse.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse decodes one YAML document strictly: an unknown key, a value of the
// wrong type, a duplicate key and every semantic problem is reported, all
// of them at once, as an ErrorList with file:line:col. Defaults fill what
// is unset. No partial Config is returned with an error.
func Parse(file string, data []byte) (*Config, error) {
	if len(data) > MaxFileBytes {
		return nil, ErrorList{{File: file, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileBytes)}}
	}
	root, err := parseNode(file, data)
	if err != nil {
		return nil, err
	}
	var cfg Config
	var errs ErrorList
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		errs = append(errs, decodeErrors(file, err)...)
	}
	idx, dup := indexNode(root)
	if !dup {
		// A duplicate key makes the decoder skip its whole mapping, so
		// the semantic checks would only report what is missing.
		v := &validator{file: file, idx: idx}
		setDefaults(&cfg)
		v.config(&cfg)
		errs = append(errs, v.errs...)
	}
	if len(errs) > 0 {
		return nil, errs.sorted()
	}
	return &cfg, nil
}

// parseNode reads the single document of data into a node tree.
func parseNode(file string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &yaml.Node{Kind: yaml.MappingNode}, nil
		}
		return nil, ErrorList(decodeErrors(file, err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, ErrorList{{File: file, Line: extra.Line, Col: extra.Column, Msg: "the file must hold one YAML document"}}
	}
	if len(doc.Content) == 0 {
		return &yaml.Node{Kind: yaml.MappingNode}, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, ErrorList{{File: file, Line: root.Line, Col: root.Column, Msg: "the document must be a mapping"}}
	}
	return root, nil
}

var (
	lineMsg      = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	unknownField = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	cannotDecode = regexp.MustCompile(`^cannot unmarshal (!!\w+)(?: .*)? into (\S+)$`)
)

// decodeErrors turns a yaml.v3 error into one Error per line it reports.
func decodeErrors(file string, err error) []*Error {
	var lines []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		lines = te.Errors
	} else {
		lines = []string{err.Error()}
	}
	out := make([]*Error, 0, len(lines))
	for _, l := range lines {
		e := &Error{File: file, Msg: l}
		if m := lineMsg.FindStringSubmatch(l); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = m[2]
		}
		if m := unknownField.FindStringSubmatch(e.Msg); m != nil {
			e.Msg = fmt.Sprintf("unknown field %q", m[1])
		} else if m := cannotDecode.FindStringSubmatch(e.Msg); m != nil {
			e.Msg = fmt.Sprintf("a %s value cannot be a %s", strings.TrimPrefix(m[1], "!!"), goTypeName(m[2]))
		}
		out = append(out, e)
	}
	return out
}

// goTypeName turns a Go type in a yaml.v3 message into a word for people.
func goTypeName(t string) string {
	switch {
	case t == "time.Duration":
		return "duration (like 30s or 5m)"
	case t == "config.ByteSize":
		return "size (like 64Mi or 1048576)"
	case strings.HasPrefix(t, "[]"):
		return "list"
	case strings.HasPrefix(t, "config.") || strings.HasPrefix(t, "*config."):
		return "mapping"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "float"):
		return "number"
	}
	return t
}

// pos is a line and column.
type pos struct{ line, col int }

// indexNode maps every dotted path of the tree to its position: keys map
// to their key node, list items to the item. dup reports a duplicate key.
func indexNode(root *yaml.Node) (idx map[string]pos, dup bool) {
	idx = map[string]pos{}
	var walk func(n *yaml.Node, path string, depth int)
	walk = func(n *yaml.Node, path string, depth int) {
		if depth > 32 {
			return
		}
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, val := n.Content[i], n.Content[i+1]
				p := joinPath(path, k.Value)
				if _, ok := idx[p]; ok {
					dup = true
				} else {
					idx[p] = pos{k.Line, k.Column}
				}
				walk(val, p, depth+1)
			}
		case yaml.SequenceNode:
			for i, item := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				idx[p] = pos{item.Line, item.Column}
				walk(item, p, depth+1)
			}
		}
	}
	walk(root, "", 0)
	return idx, dup
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}
