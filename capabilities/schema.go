package capabilities

import (
	"context"
	"fmt"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
)

// Param describes one parameter of a definition, for documentation.
type Param struct {
	Name string `json:"name"`
	// Type is a short type: string, int, bool, "a" | "b", []string,
	// map[string]string, {...} (see Fields), or []{...}.
	Type string `json:"type"`
	// Default is the JSON of the default value; empty when there is none.
	Default     string `json:"default,omitempty"`
	Required    bool   `json:"required"`
	Description string `json:"description,omitempty"`
	// Fields are the fields of a struct parameter or of a list's elements.
	Fields []Param `json:"fields,omitempty"`
}

// maxSchemaDepth bounds recursion through self-referencing schemas.
const maxSchemaDepth = 8

// Parameters extracts the parameter schema from the template's parameter
// field. Descriptions come from doc comments: a "+usage=" line (KubeVela's
// marker) or else the plain comment text. Parameters marked "+ignore" are
// left out, as KubeVela's docs do. It returns when ctx ends even if the
// template's compilation does not.
func (d *Definition) Parameters(ctx context.Context) ([]Param, error) {
	return within(ctx, d.String()+" parameters", d.parameters)
}

func (d *Definition) parameters() ([]Param, error) {
	tmpl, err := d.Template()
	if err != nil {
		return nil, err
	}
	p := tmpl.LookupPath(ParameterPath)
	if !p.Exists() {
		return nil, nil
	}
	return structParams(p, 0), nil
}

// structParams lists the fields of a struct value; for a disjunction of
// structs (one of several shapes) it lists the union of their fields.
func structParams(v cue.Value, depth int) []Param {
	if depth > maxSchemaDepth {
		return nil
	}
	if op, args := v.Expr(); op == cue.OrOp {
		var out []Param
		seen := map[string]bool{}
		for _, alt := range args {
			for _, p := range structParams(alt, depth+1) {
				if !seen[p.Name] {
					seen[p.Name] = true
					out = append(out, p)
				}
			}
		}
		return out
	}
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		return nil
	}
	var out []Param
	for it.Next() {
		doc, ignore := docText(it.Value().Doc())
		if ignore {
			continue
		}
		p := describe(it.Value(), depth)
		p.Name = unquoteLabel(it.Selector())
		p.Description = doc
		if it.IsOptional() {
			p.Required = false
		}
		out = append(out, p)
	}
	return out
}

func unquoteLabel(sel cue.Selector) string {
	if sel.LabelType() == cue.StringLabel {
		return sel.Unquoted()
	}
	return sel.String()
}

// describe computes type, default, requiredness and nested fields.
func describe(v cue.Value, depth int) Param {
	var p Param
	def, hasDefault := v.Default()
	// An open list or a struct is concrete by itself; only a disjunction
	// with a marked default is reported as having one.
	hasDefault = hasDefault && !v.IsConcrete()
	if hasDefault {
		if js, err := def.MarshalJSON(); err == nil {
			p.Default = string(js)
		}
	}
	kind := v.IncompleteKind()
	switch kind {
	case cue.StructKind:
		p.Type, p.Fields = structType(v, depth)
		for _, f := range p.Fields {
			if f.Required {
				p.Required = !hasDefault
			}
		}
	case cue.ListKind:
		p.Type, p.Fields = listType(v, def, depth)
	default:
		p.Type = scalarType(v, kind)
		p.Required = !hasDefault && !v.IsConcrete()
	}
	return p
}

func structType(v cue.Value, depth int) (string, []Param) {
	if elem := v.LookupPath(cue.MakePath(cue.AnyString)); elem.Exists() && elem.IncompleteKind() != cue.TopKind {
		t := describe(elem, depth+1)
		return "map[string]" + t.Type, t.Fields
	}
	fields := structParams(v, depth+1)
	if len(fields) == 0 {
		return "{...}", nil
	}
	return "{...}", fields
}

func listType(v, def cue.Value, depth int) (string, []Param) {
	elem := v.LookupPath(cue.MakePath(cue.AnyIndex))
	if !elem.Exists() {
		// A defaulted list (*[...] | [...T]) resolves to its default here;
		// describe the type from the alternatives.
		if op, args := v.Expr(); op == cue.OrOp {
			for _, alt := range args {
				if e := alt.LookupPath(cue.MakePath(cue.AnyIndex)); e.Exists() {
					elem = e
					break
				}
			}
		}
	}
	if !elem.Exists() {
		if it, err := def.List(); err == nil && it.Next() {
			elem = it.Value()
		}
	}
	if !elem.Exists() {
		return "[...]", nil
	}
	t := describe(elem, depth+1)
	return "[]" + t.Type, t.Fields
}

func scalarType(v cue.Value, kind cue.Kind) string {
	if op, args := v.Expr(); op == cue.OrOp {
		alts := make([]string, 0, len(args))
		for _, a := range args {
			if a.IsConcrete() && a.IncompleteKind() != cue.StructKind && a.IncompleteKind() != cue.ListKind {
				js, err := a.MarshalJSON()
				if err == nil {
					alts = append(alts, string(js))
					continue
				}
			}
			alts = append(alts, kindName(a.IncompleteKind()))
		}
		return strings.Join(dedupe(alts), " | ")
	}
	return kindName(kind)
}

func kindName(k cue.Kind) string {
	switch k {
	case cue.TopKind:
		return "any"
	case cue.BottomKind:
		return "invalid"
	}
	return strings.Trim(strings.ReplaceAll(k.String(), "|", " | "), "()")
}

func dedupe(ss []string) []string {
	seen := map[string]bool{}
	out := ss[:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// docText turns doc comments into a description: the +usage= marker wins,
// other +key=value markers are dropped, plain text is joined. ignore
// reports a +ignore marker.
func docText(groups []*ast.CommentGroup) (text string, ignore bool) {
	var usage string
	var plain []string
	for _, g := range groups {
		for _, line := range strings.Split(g.Text(), "\n") {
			line = strings.TrimSpace(line)
			switch {
			case line == "":
			case line == "+ignore":
				ignore = true
			case strings.HasPrefix(line, "+usage="):
				usage = strings.TrimSpace(strings.TrimPrefix(line, "+usage="))
			case strings.HasPrefix(line, "+"):
			default:
				plain = append(plain, line)
			}
		}
	}
	if usage != "" {
		return usage, ignore
	}
	return strings.Join(plain, " "), ignore
}

// String renders a parameter in one line, for errors and tests.
func (p Param) String() string {
	s := fmt.Sprintf("%s %s", p.Name, p.Type)
	if p.Required {
		s += " (required)"
	}
	if p.Default != "" {
		s += " = " + p.Default
	}
	return s
}
