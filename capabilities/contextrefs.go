package capabilities

import (
	"strconv"

	"cuelang.org/go/cue/ast"
)

// contextRefs records which context fields a template reads, so that the
// engine fills only those that cost something to encode (output and
// outputs, whole objects).
type contextRefs struct {
	all    bool // context is used as a whole: assume every field
	fields map[string]bool
}

// scanContextRefs finds context.<field> and context["<field>"] in a
// template file. Any other use of the identifier context (passing it
// along, a comprehension over it) counts as reading everything.
func scanContextRefs(f *ast.File) contextRefs {
	refs := contextRefs{fields: map[string]bool{}}
	seen := map[*ast.Ident]bool{}
	ast.Walk(f, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.Field:
			if id, ok := x.Label.(*ast.Ident); ok {
				seen[id] = true
			}
		case *ast.SelectorExpr:
			if id, ok := x.X.(*ast.Ident); ok && id.Name == contextField {
				seen[id] = true
				if name, _, err := ast.LabelName(x.Sel); err == nil {
					refs.fields[name] = true
				} else {
					refs.all = true
				}
			}
		case *ast.IndexExpr:
			if id, ok := x.X.(*ast.Ident); ok && id.Name == contextField {
				seen[id] = true
				lit, ok := x.Index.(*ast.BasicLit)
				name, err := strconv.Unquote(litValue(lit, ok))
				if err != nil {
					refs.all = true
				} else {
					refs.fields[name] = true
				}
			}
		case *ast.Ident:
			if x.Name == contextField && !seen[x] {
				refs.all = true
			}
		}
		return true
	}, nil)
	return refs
}

func litValue(lit *ast.BasicLit, ok bool) string {
	if !ok {
		return ""
	}
	return lit.Value
}

// UsesContext reports whether the definition's template reads the context
// field (for example "output"). It is true when that cannot be known.
func (d *Definition) UsesContext(field string) bool {
	e := d.cache.entry(d)
	if e.err != nil {
		return true
	}
	return e.refs.all || e.refs.fields[field]
}
