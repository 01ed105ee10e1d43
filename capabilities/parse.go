package capabilities

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"
)

// The fields of a compiled definition file.
const (
	templateField  = "template"
	contextField   = "context"
	parameterField = "parameter"
)

// Paths into the value Definition.Template returns.
var (
	// TemplatePath is the template: parameter, output, outputs, patch, ...
	TemplatePath = cue.MakePath(cue.Str(templateField))
	// ContextPath is the context the caller fills.
	ContextPath = cue.MakePath(cue.Str(contextField))
	// ParameterPath is the template's parameter field.
	ParameterPath = cue.MakePath(cue.Str(templateField), cue.Str(parameterField))
)

// allowedImports is the part of the CUE standard library a definition may
// import: everything that is pure. tool/* (exec, file, http, os, cli) and
// anything outside the standard library are refused.
var allowedImports = map[string]bool{
	"crypto/ed25519": true, "crypto/hmac": true, "crypto/md5": true, "crypto/sha1": true,
	"crypto/sha256": true, "crypto/sha512": true,
	"encoding/base64": true, "encoding/csv": true, "encoding/hex": true, "encoding/json": true,
	"encoding/toml": true, "encoding/yaml": true,
	"html": true, "list": true, "math": true, "math/bits": true, "net": true, "path": true,
	"regexp": true, "strconv": true, "strings": true, "struct": true,
	"text/tabwriter": true, "text/template": true, "time": true, "uuid": true,
}

// fileParts is a definition file split into its imports, header and
// template.
type fileParts struct {
	file     *ast.File
	imports  []*ast.ImportDecl
	header   *ast.Field
	name     string
	template *ast.StructLit
}

// parseFile parses a definition file and checks its shape: only allowed
// imports, exactly one header field and one template struct.
func parseFile(filename string, src []byte) (*fileParts, Problems) {
	f, err := parser.ParseFile(filename, src, parser.ParseComments, parser.AllErrors)
	if err != nil {
		return nil, ProblemsFromCUE(err, Position{File: filename})
	}
	parts := &fileParts{file: f}
	var probs Problems
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.Package, *ast.CommentGroup, *ast.Attribute:
		case *ast.ImportDecl:
			probs = append(probs, checkImports(d)...)
			parts.imports = append(parts.imports, d)
		case *ast.Field:
			if name, _, _ := ast.LabelName(d.Label); name == contextField {
				continue
			}
			probs = append(probs, parts.addField(d)...)
		default:
			probs = append(probs, Problem{Pos: PositionOf(decl.Pos()), Msg: "a definition file holds only imports, one definition header and its template"})
		}
	}
	if parts.header == nil && len(probs) == 0 {
		probs = append(probs, Problem{Pos: Position{File: filename, Line: 1, Col: 1}, Msg: `no definition header (want name: {type: "component" | "trait" | "policy" | "workflow-step", ...})`})
	}
	if parts.template == nil && len(probs) == 0 {
		probs = append(probs, Problem{Pos: Position{File: filename, Line: 1, Col: 1}, Msg: "no template: {...} field"})
	}
	return parts, probs
}

func checkImports(d *ast.ImportDecl) Problems {
	var probs Problems
	for _, spec := range d.Specs {
		p, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			probs = append(probs, Problem{Pos: PositionOf(spec.Pos()), Msg: fmt.Sprintf("import path %s is not a string", spec.Path.Value)})
			continue
		}
		if !allowedImports[p] {
			why := "only the pure CUE standard library may be imported"
			if p == "tool" || strings.HasPrefix(p, "tool/") {
				why = "tool/* packages do I/O and are refused"
			}
			probs = append(probs, Problem{Pos: PositionOf(spec.Pos()), Msg: fmt.Sprintf("import %q is not allowed: %s", p, why)})
		}
	}
	return probs
}

func (parts *fileParts) addField(d *ast.Field) Problems {
	name, _, err := ast.LabelName(d.Label)
	if err != nil {
		return Problems{{Pos: PositionOf(d.Pos()), Msg: fmt.Sprintf("top-level label must be a plain name: %v", err)}}
	}
	if name == templateField {
		if parts.template != nil {
			return Problems{{Pos: PositionOf(d.Pos()), Msg: "second template field (a file holds one definition)"}}
		}
		lit, ok := d.Value.(*ast.StructLit)
		if !ok {
			return Problems{{Pos: PositionOf(d.Value.Pos()), Msg: "template must be a struct literal {...}"}}
		}
		parts.template = lit
		return nil
	}
	if parts.header != nil {
		return Problems{{Pos: PositionOf(d.Pos()), Msg: fmt.Sprintf("second definition header %q (a file holds one definition, already %q)", name, parts.name)}}
	}
	parts.header, parts.name = d, name
	return nil
}

// rawHeader mirrors the header fields a definition may set.
type rawHeader struct {
	Type        string            `json:"type"`
	Description string            `json:"description"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Attributes  struct {
		Workload struct {
			Definition struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			} `json:"definition"`
			Type string `json:"type"`
		} `json:"workload"`
		Status             Status   `json:"status"`
		AppliesToWorkloads []string `json:"appliesToWorkloads"`
		ConflictsWith      []string `json:"conflictsWith"`
		PodDisruptive      bool     `json:"podDisruptive"`
		Stage              string   `json:"stage"`
		Engine             string   `json:"engine"`
	} `json:"attributes"`
}

// parseDefinition loads one definition file. The header is evaluated now;
// the template is compiled on first use.
func parseDefinition(cache *Cache, filename string, src []byte, origin Origin) (*Definition, Problems) {
	parts, probs := parseFile(filename, src)
	if len(probs) > 0 {
		return nil, probs
	}
	// The header is plain data (checked, so that building it is cheap and
	// always ends); the file's imports belong to the template (CUE refuses
	// unused imports).
	if probs := plainData(parts.header.Value); len(probs) > 0 {
		return nil, probs
	}
	hf := &ast.File{Filename: filename, Decls: []ast.Decl{parts.header}}
	hv, err := cache.build(hf)
	pos := PositionOf(parts.header.Pos())
	if err != nil {
		return nil, ProblemsFromCUE(err, pos)
	}
	var raw rawHeader
	if err := hv.LookupPath(cue.MakePath(cue.Str(parts.name))).Decode(&raw); err != nil {
		return nil, ProblemsFromCUE(err, pos)
	}
	origin.File = filename
	def := &Definition{
		Name:        parts.name,
		Kind:        Kind(raw.Type),
		Description: raw.Description,
		Labels:      raw.Labels,
		Annotations: raw.Annotations,
		Attributes: Attributes{
			Workload: WorkloadDef{
				APIVersion: raw.Attributes.Workload.Definition.APIVersion,
				Kind:       raw.Attributes.Workload.Definition.Kind,
				Type:       raw.Attributes.Workload.Type,
			},
			Status:             raw.Attributes.Status,
			AppliesToWorkloads: raw.Attributes.AppliesToWorkloads,
			ConflictsWith:      raw.Attributes.ConflictsWith,
			PodDisruptive:      raw.Attributes.PodDisruptive,
			Stage:              raw.Attributes.Stage,
			Engine:             Engine(raw.Attributes.Engine),
		},
		Origin: origin,
		Pos:    pos,
		Digest: fileDigest(filename, src),
		src:    src,
		cache:  cache,
	}
	return def, def.check()
}

// plainData refuses anything in a definition header but literals, structs,
// lists and disjunctions of literals (KubeVela headers hold nothing else).
func plainData(n ast.Node) Problems {
	bad := func(format string, args ...any) Problems {
		return Problems{{Pos: PositionOf(n.Pos()), Msg: "a definition header holds plain data, " + fmt.Sprintf(format, args...)}}
	}
	switch x := n.(type) {
	case *ast.BasicLit:
		return nil
	case *ast.Ident:
		switch x.Name {
		case "true", "false", "null", "_", "string", "int", "bool":
			return nil
		}
		return bad("not the reference %s", x.Name)
	case *ast.StructLit:
		var probs Problems
		for _, d := range x.Elts {
			switch f := d.(type) {
			case *ast.Field:
				probs = append(probs, plainData(f.Value)...)
			case *ast.CommentGroup, *ast.Attribute:
			default:
				probs = append(probs, plainData(d)...)
			}
		}
		return probs
	case *ast.ListLit:
		var probs Problems
		for _, e := range x.Elts {
			probs = append(probs, plainData(e)...)
		}
		return probs
	case *ast.BinaryExpr:
		return append(plainData(x.X), plainData(x.Y)...)
	case *ast.UnaryExpr:
		return plainData(x.X)
	case *ast.ParenExpr:
		return plainData(x.X)
	}
	return bad("not %T", n)
}

// fileDigest is the content digest of a definition file; the name is part
// of it because compiled templates carry positions.
func fileDigest(filename string, src []byte) string {
	sum := sha256.New()
	sum.Write([]byte(filename))
	sum.Write([]byte{0})
	sum.Write(src)
	return hex.EncodeToString(sum.Sum(nil))
}

// check validates the header values that CUE's types cannot.
func (d *Definition) check() Problems {
	var probs Problems
	bad := func(format string, args ...any) {
		probs = append(probs, Problem{Pos: d.Pos, Msg: fmt.Sprintf("%s: ", d.Name) + fmt.Sprintf(format, args...)})
	}
	if !d.Kind.valid() {
		bad(`type %q is not one of "component", "trait", "policy", "workflow-step"`, d.Kind)
	}
	switch d.Attributes.Stage {
	case "", "PreDispatch", "PostDispatch", "DefaultDispatch":
	default:
		bad(`attributes.stage %q is not one of "PreDispatch", "DefaultDispatch", "PostDispatch"`, d.Attributes.Stage)
	}
	switch d.Attributes.Engine {
	case EngineCUE:
	case EngineHelm, EngineKustomize, EngineManifests:
		if d.Kind != KindComponent {
			bad("attributes.engine is only allowed on components")
		}
	default:
		bad(`attributes.engine %q is not one of "helm", "kustomize", "manifests"`, d.Attributes.Engine)
	}
	for _, snippet := range []struct{ name, src string }{
		{"healthPolicy", d.Attributes.Status.HealthPolicy},
		{"customStatus", d.Attributes.Status.CustomStatus},
		{"details", d.Attributes.Status.Details},
	} {
		if snippet.src == "" {
			continue
		}
		if _, err := parser.ParseFile(d.Name+"."+snippet.name, snippet.src); err != nil {
			bad("attributes.status.%s does not parse: %v", snippet.name, err)
		}
	}
	return probs
}

// templateFile builds the file that is compiled for a definition: its
// imports, its template field, and an open top-level `context` field for
// the caller to fill. The context field is appended to the source before
// parsing, so that the parser resolves the template's references to it and
// no earlier position moves. The header is left out: it is plain data,
// read once at load.
func templateFile(filename string, src []byte) (*ast.File, Problems) {
	full := make([]byte, 0, len(src)+16)
	full = append(append(full, src...), "\n"+contextField+": _\n"...)
	parts, probs := parseFile(filename, full)
	if len(probs) > 0 {
		return nil, probs
	}
	f := parts.file
	decls := f.Decls[:0]
	for _, d := range f.Decls {
		if field, ok := d.(*ast.Field); ok && field == parts.header {
			continue
		}
		decls = append(decls, d)
	}
	f.Decls = decls
	return f, nil
}
