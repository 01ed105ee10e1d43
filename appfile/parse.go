package appfile

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// KubeVela's Application identity.
const (
	kubeVelaGroup      = "core.oam.dev"
	kubeVelaAPIVersion = "core.oam.dev/v1beta1"
	kubeVelaKind       = "Application"
)

// AllowEmptyAnnotation, set to "true" on a KubeVela Application, permits a
// render that produces no objects.
const AllowEmptyAnnotation = "app.carina.dev/allow-empty"

// Parse parses one file that holds exactly one application, in either
// syntax, with DefaultParseOptions. On failure the error is an ErrorList
// with every problem found, and no Application is returned.
func Parse(file string, data []byte) (*Application, error) {
	return ParseWithOptions(file, data, DefaultParseOptions())
}

// ParseWithOptions is Parse with explicit limits.
func ParseWithOptions(file string, data []byte, opts ParseOptions) (*Application, error) {
	apps, err := ParseAll(file, data, opts)
	if err != nil {
		return nil, err
	}
	switch len(apps) {
	case 1:
		return apps[0], nil
	case 0:
		return nil, ErrorList{{Pos: Position{File: file}, Msg: "file holds no application"}}
	}
	return nil, ErrorList{{Pos: apps[1].Pos, Msg: fmt.Sprintf("file holds %d applications where one was expected", len(apps))}}
}

// ParseAll parses every application in a multi-document YAML file.
// Documents that are other Kubernetes objects (they have an apiVersion or
// kind, but are not a core.oam.dev Application) are skipped; a document
// with neither is read as a short Appfile.
func ParseAll(file string, data []byte, opts ParseOptions) ([]*Application, error) {
	apps, _, errs := parseFile(file, data, opts.withDefaults(), allDocs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return apps, nil
}

// docMode says which documents of a file are applications.
type docMode int

const (
	// allDocs reads KubeVela Applications and short Appfiles.
	allDocs docMode = iota
	// kubeVelaDocs reads only KubeVela Applications and skips everything
	// else, as Load does for YAML files not named Appfile.
	kubeVelaDocs
)

// docKind is what a document is, judged from its top-level keys only.
type docKind int

const (
	docOther docKind = iota
	docNotMapping
	docKubeVela
	docShort
)

func classify(root *yaml.Node) docKind {
	root = resolve(root)
	if root.Kind != yaml.MappingNode {
		return docNotMapping
	}
	var apiVersion, kind string
	var typed bool
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := resolve(root.Content[i]), resolve(root.Content[i+1])
		if k.Kind != yaml.ScalarNode || (k.Value != "apiVersion" && k.Value != "kind") {
			continue
		}
		typed = true
		if v.Kind != yaml.ScalarNode {
			continue
		}
		if k.Value == "apiVersion" {
			apiVersion = v.Value
		} else {
			kind = v.Value
		}
	}
	group, _, _ := strings.Cut(apiVersion, "/")
	switch {
	case kind == kubeVelaKind && group == kubeVelaGroup:
		return docKubeVela
	case typed:
		return docOther
	}
	return docShort
}

// parseFile reads the applications of one file and returns them with the
// number of YAML nodes they expanded to.
func parseFile(file string, data []byte, opts ParseOptions, mode docMode) ([]*Application, int, ErrorList) {
	docs, errs := decodeDocuments(file, data, opts)
	r := &reader{file: file, errs: errs}
	var apps []*Application
	expanded := 0
	for _, d := range docs {
		// Documents that are not applications are never read further, so
		// they neither break limits nor count against them.
		kind := classify(d.root)
		if kind == docOther || (mode == kubeVelaDocs && kind != docKubeVela) {
			continue
		}
		if d.bad != nil {
			r.errs = append(r.errs, d.bad)
			continue
		}
		if expanded += d.size; expanded > opts.MaxNodes {
			r.errorf(d.root, "the applications of this file expand to more than %d YAML nodes", opts.MaxNodes)
			break
		}
		var app *Application
		switch kind {
		case docNotMapping:
			r.errorf(d.root, "document must be a mapping, got %s", kindName(d.root))
		case docKubeVela:
			app = r.kubeVelaApp(d.root)
		case docShort:
			app = r.shortApp(d.root)
		}
		if app != nil {
			validate(app, &r.errs)
			apps = append(apps, app)
		}
	}
	duplicateApps(apps, &r.errs)
	if len(r.errs) > 0 {
		return nil, expanded, r.errs
	}
	return apps, expanded, nil
}

// duplicateApps reports applications that share a name.
func duplicateApps(apps []*Application, errs *ErrorList) {
	first := map[string]*Application{}
	for _, app := range apps {
		if app.Name == "" {
			continue
		}
		if prev, dup := first[app.Name]; dup {
			errs.add(app.Pos, "application %q is already defined at %s", app.Name, prev.Pos)
			continue
		}
		first[app.Name] = app
	}
}
