package kustomize

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// properties is the `kustomize` component's parameter, as the built-in CUE
// definition declares it.
type properties struct {
	Path         string            `json:"path"`
	Images       []image           `json:"images"`
	Patches      []patch           `json:"patches"`
	NamePrefix   string            `json:"namePrefix"`
	NameSuffix   string            `json:"nameSuffix"`
	Namespace    string            `json:"namespace"`
	CommonLabels map[string]string `json:"commonLabels"`
	Substitute   map[string]string `json:"substitute"`
}

type image struct {
	Name    string `json:"name"`
	NewName string `json:"newName,omitempty"`
	NewTag  string `json:"newTag,omitempty"`
	Digest  string `json:"digest,omitempty"`
}

type patch struct {
	Patch  string  `json:"patch"`
	Target *target `json:"target,omitempty"`
}

type target struct {
	Group              string `json:"group,omitempty"`
	Version            string `json:"version,omitempty"`
	Kind               string `json:"kind,omitempty"`
	Name               string `json:"name,omitempty"`
	Namespace          string `json:"namespace,omitempty"`
	LabelSelector      string `json:"labelSelector,omitempty"`
	AnnotationSelector string `json:"annotationSelector,omitempty"`
}

var varName = regexp.MustCompile(`^[_a-zA-Z][_a-zA-Z0-9]*$`)

// parseProperties decodes and checks the component's properties. Unknown
// properties are an error: a typo must not be silently ignored.
func parseProperties(in map[string]any) (properties, error) {
	var p properties
	raw, err := json.Marshal(in)
	if err != nil {
		return p, fmt.Errorf("kustomize properties: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("kustomize properties: %w", err)
	}
	var errs []string
	if strings.TrimSpace(p.Path) == "" {
		errs = append(errs, "path is required")
	}
	for i, im := range p.Images {
		if im.Name == "" {
			errs = append(errs, fmt.Sprintf("images[%d].name is required", i))
		}
	}
	for i, pt := range p.Patches {
		if strings.TrimSpace(pt.Patch) == "" {
			errs = append(errs, fmt.Sprintf("patches[%d].patch is required", i))
		}
	}
	for _, k := range sortedKeys(p.Substitute) {
		if !varName.MatchString(k) {
			errs = append(errs, fmt.Sprintf("substitute key %q is not a variable name", k))
		}
	}
	if len(errs) > 0 {
		return p, fmt.Errorf("kustomize properties: %s", strings.Join(errs, "; "))
	}
	return p, nil
}

// transforms says whether the properties change the build, so that it
// needs an overlay.
func (p properties) transforms() bool {
	return len(p.Images) > 0 || len(p.Patches) > 0 || p.NamePrefix != "" || p.NameSuffix != "" ||
		p.Namespace != "" || len(p.CommonLabels) > 0
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
