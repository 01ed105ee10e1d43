package kubevela

import (
	"fmt"
	"path"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/parser"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The definition kinds, and the type of each. Files go to a folder per
// type, named as in KubeVela's definitions folder.
var kinds = map[string]string{
	"ComponentDefinition":    "component",
	"TraitDefinition":        "trait",
	"PolicyDefinition":       "policy",
	"WorkflowStepDefinition": "workflow-step",
}

var folders = map[string]string{"workflow-step": "workflowstep"}

// DescriptionAnnotation holds a definition's description on its object.
const DescriptionAnnotation = "definition.oam.dev/description"

// File is one definition as a CUE file.
type File struct {
	// Path is <type>/<name>.cue, for example trait/gateway.cue.
	Path string
	// Kind and Name are the object's.
	Kind, Name string
	Data       []byte
}

// bookkeeping are annotations and labels KubeVela sets on the objects it
// installs; they are not part of a definition.
var bookkeeping = []string{
	"kubectl.kubernetes.io/last-applied-configuration",
	"meta.helm.sh/", "app.kubernetes.io/managed-by", "helm.sh/",
	"definition.oam.dev/description",
	"oam.dev/kubevela-version", "definitionrevision.oam.dev/",
}

// ToFile converts a definition object into a CUE file: a header with the
// type, description, labels, annotations and attributes, then the
// template, whose imports move to the top of the file.
func ToFile(u *unstructured.Unstructured) (File, error) {
	typ, ok := kinds[u.GetKind()]
	ref := u.GetKind() + "/" + u.GetNamespace() + "/" + u.GetName()
	if !ok {
		return File{}, fmt.Errorf("%s: not a KubeVela definition kind", ref)
	}
	spec, _, _ := unstructured.NestedMap(u.Object, "spec")
	tmpl, found, err := unstructured.NestedString(spec, "schematic", "cue", "template")
	if err != nil || !found {
		return File{}, fmt.Errorf("%s has no spec.schematic.cue.template (only CUE definitions can be imported)", ref)
	}
	body, err := parser.ParseFile(u.GetName()+".cue", tmpl, parser.ParseComments)
	if err != nil {
		return File{}, fmt.Errorf("%s template: %w", ref, err)
	}
	head, err := header(u, typ, spec)
	if err != nil {
		return File{}, fmt.Errorf("%s: %w", ref, err)
	}
	file := &ast.File{}
	var decls []ast.Decl
	for _, d := range body.Decls {
		switch d.(type) {
		case *ast.ImportDecl, *ast.Package:
			if _, pkg := d.(*ast.Package); !pkg {
				file.Decls = append(file.Decls, d)
			}
		default:
			decls = append(decls, d)
		}
	}
	file.Decls = append(file.Decls,
		&ast.Field{Label: ast.NewString(u.GetName()), Value: head},
		&ast.Field{Label: ast.NewIdent("template"), Value: &ast.StructLit{Elts: decls}},
	)
	data, err := format.Node(file, format.Simplify())
	if err != nil {
		return File{}, fmt.Errorf("%s: format: %w", ref, err)
	}
	dir := typ
	if f, ok := folders[typ]; ok {
		dir = f
	}
	return File{Path: path.Join(dir, u.GetName()+".cue"), Kind: u.GetKind(), Name: u.GetName(), Data: data}, nil
}

// header builds name: {type, description, labels, annotations, attributes}.
func header(u *unstructured.Unstructured, typ string, spec map[string]any) (ast.Expr, error) {
	h := map[string]any{"type": typ}
	if d := u.GetAnnotations()[DescriptionAnnotation]; d != "" {
		h["description"] = d
	}
	if m := keep(u.GetAnnotations()); len(m) > 0 {
		h["annotations"] = m
	}
	if m := keep(u.GetLabels()); len(m) > 0 {
		h["labels"] = m
	}
	attrs := map[string]any{}
	for k, v := range spec {
		if k != "schematic" && k != "version" {
			attrs[k] = v
		}
	}
	if len(attrs) > 0 {
		h["attributes"] = attrs
	}
	v := cuecontext.New().Encode(h)
	if err := v.Err(); err != nil {
		return nil, err
	}
	expr, ok := v.Syntax().(ast.Expr)
	if !ok {
		return nil, fmt.Errorf("header is not an expression")
	}
	return expr, nil
}

func keep(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		drop := false
		for _, b := range bookkeeping {
			if k == b || (strings.HasSuffix(b, "/") && strings.HasPrefix(k, b)) {
				drop = true
			}
		}
		if !drop {
			out[k] = v
		}
	}
	return out
}
