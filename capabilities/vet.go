package capabilities

import (
	"context"
	"fmt"
	"sort"

	"cuelang.org/go/cue"
)

// Report is what Vet found in one definition file.
type Report struct {
	// Kind and Name identify the definition (see Broken for files whose
	// header cannot be read).
	Kind Kind   `json:"type,omitempty"`
	Name string `json:"name"`
	File string `json:"file"`
	// Broken says that the file cannot be loaded at all: an application
	// that uses the definition fails, the rest of the module does not.
	Broken   bool     `json:"broken,omitempty"`
	Problems Problems `json:"problems"`
}

// String names the definition as "kind name".
func (r Report) String() string {
	if r.Kind == "" {
		return "definition " + r.Name
	}
	return fmt.Sprintf("%s %s", r.Kind, r.Name)
}

// Vet checks a definition module and returns every problem found, each
// with its file:line:col: files that do not parse, refused imports, bad
// headers, duplicate names, templates that do not compile or whose fields
// conflict, and components without output. It returns nil for a clean
// module. A module that cannot be read at all is one problem. A template
// whose compilation does not end stops Vet at ctx's deadline.
func Vet(ctx context.Context, m Module, opts Options) Problems {
	var probs Problems
	for _, r := range VetReports(ctx, m, opts) {
		probs = append(probs, r.Problems...)
	}
	probs.sort()
	return probs
}

// VetReports is Vet by definition: one report per definition file that has
// problems, in file order.
func VetReports(ctx context.Context, m Module, opts Options) []Report {
	if opts.Cache == nil {
		opts.Cache = NewCache(DefaultCacheOptions())
	}
	if opts.Limits == (Limits{}) {
		opts.Limits = DefaultLimits()
	}
	defs, broken, err := loadModule(ctx, opts.Cache, m, opts.Limits)
	if err != nil {
		return []Report{{Name: displayName(m, m.Dir), File: displayName(m, m.Dir), Problems: Problems{{Pos: Position{File: displayName(m, m.Dir)}, Msg: err.Error()}}}}
	}
	var out []Report
	for _, b := range broken {
		out = append(out, Report{Kind: b.Kind, Name: b.Name, File: b.Origin.File, Broken: true, Problems: b.Problems})
	}
	for _, d := range defs {
		if err := ctx.Err(); err != nil {
			out = append(out, Report{Kind: d.Kind, Name: d.Name, File: d.Origin.File, Problems: Problems{{Pos: d.Pos, Msg: fmt.Sprintf("vet stopped: %v", err)}}})
			break
		}
		ps, err := within(ctx, "vet of "+d.String(), func() (Problems, error) { return vetTemplate(d), nil })
		if err != nil {
			out = append(out, Report{Kind: d.Kind, Name: d.Name, File: d.Origin.File, Problems: Problems{{Pos: d.Pos, Msg: err.Error()}}})
			break
		}
		if len(ps) > 0 {
			ps.sort()
			out = append(out, Report{Kind: d.Kind, Name: d.Name, File: d.Origin.File, Problems: ps})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out
}

// vetTemplate compiles a definition's template and checks its shape.
func vetTemplate(d *Definition) Problems {
	tmpl, err := d.Template()
	if err != nil {
		if ps, ok := err.(Problems); ok {
			return ps
		}
		return Problems{{Pos: d.Pos, Msg: err.Error()}}
	}
	if err := tmpl.Validate(); err != nil {
		return ProblemsFromCUE(err, d.Pos)
	}
	var probs Problems
	body := tmpl.LookupPath(TemplatePath)
	has := func(field string) bool { return body.LookupPath(cue.MakePath(cue.Str(field))).Exists() }
	if p := tmpl.LookupPath(ParameterPath); p.Exists() {
		if k := p.IncompleteKind(); k&cue.StructKind == 0 && k != cue.TopKind {
			probs = append(probs, Problem{Pos: d.Pos, Msg: fmt.Sprintf("%s: parameter must be a struct, not %v", d.Name, k)})
		}
	}
	for _, sn := range []struct{ name, src string }{
		{"healthPolicy", d.Attributes.Status.HealthPolicy},
		{"customStatus", d.Attributes.Status.CustomStatus},
		{"details", d.Attributes.Status.Details},
	} {
		if sn.src == "" {
			continue
		}
		if _, err := d.cache.Snippet(d.Name+"."+sn.name, sn.src); err != nil {
			probs = append(probs, Problem{Pos: d.Pos, Msg: fmt.Sprintf("%s: attributes.status.%s does not compile: %v", d.Name, sn.name, err)})
		}
	}
	switch d.Kind {
	case KindComponent:
		if d.Attributes.Engine == EngineCUE && !has("output") && !has("outputs") {
			probs = append(probs, Problem{Pos: d.Pos, Msg: fmt.Sprintf("%s: a component template needs output or outputs (or attributes.engine)", d.Name)})
		}
	case KindTrait:
		if has("output") {
			probs = append(probs, Problem{Pos: d.Pos, Msg: fmt.Sprintf("%s: a trait writes outputs or patch, not output", d.Name)})
		}
	}
	return probs
}
