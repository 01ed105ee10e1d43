package helm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// properties is the `helm` component's parameter, as the built-in CUE
// definition declares it.
type properties struct {
	Chart       string         `json:"chart"`
	RepoURL     string         `json:"repoURL"`
	Version     string         `json:"version"`
	ReleaseName string         `json:"releaseName"`
	Namespace   string         `json:"namespace"`
	Values      map[string]any `json:"values"`
	ValuesFiles []string       `json:"valuesFiles"`
	IncludeCRDs *bool          `json:"includeCRDs"`
}

// parseProperties decodes the component's properties. They go through JSON
// so that inline values have the same types as values read from YAML files
// (numbers become float64), exactly as helm and Flux see them. Unknown
// properties are an error: a typo must not be silently ignored.
func parseProperties(in map[string]any) (properties, error) {
	var p properties
	raw, err := json.Marshal(in)
	if err != nil {
		return p, fmt.Errorf("helm properties: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("helm properties: %w", err)
	}
	if strings.TrimSpace(p.Chart) == "" {
		return p, fmt.Errorf("helm properties: chart is required")
	}
	if p.Version != "" && p.RepoURL == "" && !strings.HasPrefix(p.Chart, "oci://") {
		return p, fmt.Errorf("helm properties: version %q applies only to a chart from repoURL", p.Version)
	}
	return p, nil
}

func (p properties) includeCRDs() bool { return p.IncludeCRDs == nil || *p.IncludeCRDs }
