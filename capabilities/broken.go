package capabilities

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"
)

// Broken is a definition file that could not be loaded: a refused import
// (KubeVela's vela/* packages), a header that is not plain data, a file
// that does not parse, or a second definition of the same kind and name in
// one module. A broken definition fails only the applications that use
// it; the rest of its module loads.
type Broken struct {
	// Kind and Name identify the definition. When the header cannot be
	// read, Kind is empty and Name is the file name without .cue (KubeVela
	// names its definition files after the definition).
	Kind Kind   `json:"type,omitempty"`
	Name string `json:"name"`
	// Origin is where the file was read from.
	Origin Origin `json:"origin"`
	// Problems say why, each with its position.
	Problems Problems `json:"problems"`
}

// String names the broken definition as "kind name".
func (b *Broken) String() string {
	if b.Kind == "" {
		return "definition " + b.Name
	}
	return fmt.Sprintf("%s %s", b.Kind, b.Name)
}

// BrokenError is returned by Registry.Get for a definition that exists but
// could not be loaded.
type BrokenError struct {
	Def *Broken
}

func (e *BrokenError) Error() string {
	reasons := make([]string, len(e.Def.Problems))
	for i, p := range e.Def.Problems {
		reasons[i] = p.Error()
	}
	return fmt.Sprintf("%s cannot be loaded (%s): %s", e.Def, e.Def.Origin.File, strings.Join(reasons, "; "))
}

// identify reads the kind and name of a definition file that failed to
// load, as far as it can be read: the first top-level field other than
// template and context, and its type literal.
func identify(filename string, src []byte) (Kind, string) {
	stem := strings.TrimSuffix(path.Base(filename), ".cue")
	f, _ := parser.ParseFile(filename, src, parser.AllErrors)
	if f == nil {
		return "", stem
	}
	for _, decl := range f.Decls {
		field, ok := decl.(*ast.Field)
		if !ok {
			continue
		}
		name, _, lerr := ast.LabelName(field.Label)
		if lerr != nil || name == templateField || name == contextField {
			continue
		}
		lit, ok := field.Value.(*ast.StructLit)
		if !ok {
			return "", name
		}
		for _, e := range lit.Elts {
			tf, ok := e.(*ast.Field)
			if !ok {
				continue
			}
			if l, _, _ := ast.LabelName(tf.Label); l != "type" {
				continue
			}
			if bl, ok := tf.Value.(*ast.BasicLit); ok {
				if s, err := strconv.Unquote(bl.Value); err == nil && Kind(s).valid() {
					return Kind(s), name
				}
			}
		}
		return "", name
	}
	return "", stem
}
