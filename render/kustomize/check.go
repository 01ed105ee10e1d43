package kustomize

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Keys of a kustomization that name other kustomizations or files to load:
// directories among them are followed.
var rootKeys = []string{"resources", "bases", "components", "generators", "transformers", "validators"}

// Keys under which kustomizations and builtin plugin configurations name
// files that kustomize loads; at any depth.
var fileKeys = []string{"crds", "configurations", "patchesStrategicMerge", "path", "paths", "files", "envs", "env"}

// Keys that ask for Helm chart inflation, which runs the helm binary.
var helmKeys = []string{"helmCharts", "helmGlobals", "helmChartInflationGenerator"}

// scpUser matches the user@ that makes kustomize read a string as an
// scp-style git URL (git@github.com:org/repo).
var scpUser = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*@`)

// isRemote says whether kustomize would fetch s over the network: an
// http(s) file, or anything its git URL parser accepts. It errs on the side
// of refusing.
func isRemote(s string) bool {
	l := strings.ToLower(strings.TrimSpace(s))
	l = strings.TrimPrefix(l, "git::")
	return strings.Contains(l, "://") || scpUser.MatchString(l) ||
		strings.HasPrefix(l, "github.com/") || strings.HasPrefix(l, "github.com:")
}

// ref is a directory a kustomization points to, to be copied and checked.
type ref struct {
	dir    string
	plugin bool // its resources are generator, transformer or validator configurations
}

// checkKustomization checks one kustomization file and returns the
// directories it references. plugin says its resources are plugin
// configurations (it was named under generators, transformers or
// validators).
func (t *tree) checkKustomization(dir, file string, data []byte, plugin bool) ([]ref, error) {
	var k map[string]any
	if err := yaml.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	for _, key := range helmKeys {
		if _, ok := k[key]; ok {
			return nil, fmt.Errorf("%s: %s: Helm chart inflation is off; use a helm component for the chart", file, key)
		}
	}
	var refs []ref
	for _, key := range rootKeys {
		isPlugin := plugin || key == "generators" || key == "transformers" || key == "validators"
		for _, e := range stringList(k[key]) {
			r, err := t.checkRootEntry(dir, file, key, e, isPlugin)
			if err != nil {
				return nil, err
			}
			refs = append(refs, r...)
		}
	}
	if err := checkFileKeys(dir, file, k); err != nil {
		return nil, err
	}
	return refs, nil
}

// checkRootEntry checks one entry of resources, components, generators...:
// inline configuration, a file, or a directory to follow.
func (t *tree) checkRootEntry(dir, file, key, e string, plugin bool) ([]ref, error) {
	if strings.Contains(e, "\n") { // inline generator or transformer configuration
		return nil, checkPluginConfig(dir, fmt.Sprintf("%s: %s entry", file, key), []byte(e))
	}
	p, err := localPath(dir, file, key, e)
	if err != nil {
		return nil, err
	}
	isDir, exists, err := t.stat(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %s %q: %w", file, key, e, err)
	}
	switch {
	case isDir:
		return []ref{{dir: p, plugin: plugin}}, nil
	case exists && !inside(dir, p):
		return nil, fmt.Errorf("%s: %s %q is a file outside the kustomization's directory; kustomize loads files only from inside it", file, key, e)
	case exists && plugin:
		data, err := t.mem.ReadFile(memPath(p))
		if err != nil {
			return nil, fmt.Errorf("%s: %s %q: %w", file, key, e, err)
		}
		return nil, checkPluginConfig(dir, p, data)
	}
	return nil, nil // missing: kustomize says so
}

// inside says whether p is dir or below it.
func inside(dir, p string) bool {
	return dir == "." || p == dir || strings.HasPrefix(p, dir+"/")
}

// localPath resolves an entry against the kustomization's directory and
// refuses remote, absolute and escaping paths.
func localPath(dir, file, key, e string) (string, error) {
	switch {
	case isRemote(e):
		return "", fmt.Errorf("%s: %s %q is remote: remote bases and files are off; vendor them into the repository", file, key, e)
	case path.IsAbs(e) || strings.HasPrefix(e, `\`):
		return "", fmt.Errorf("%s: %s %q is absolute; it must be relative to the kustomization", file, key, e)
	}
	p := path.Join(dir, e)
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("%s: %s %q escapes the repository root", file, key, e)
	}
	return p, nil
}

// checkFileKeys walks v and checks every file name under a fileKeys key.
func checkFileKeys(dir, file string, v any) error {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(v) {
			if slices.Contains(fileKeys, k) {
				for _, e := range stringList(v[k]) {
					if strings.Contains(e, "\n") {
						continue // an inline patch
					}
					if k == "files" {
						if _, after, ok := strings.Cut(e, "="); ok {
							e = after
						}
					}
					p, err := localPath(dir, file, k, e)
					if err != nil {
						return err
					}
					if !inside(dir, p) {
						return fmt.Errorf("%s: %s %q is outside the kustomization's directory; kustomize loads files only from inside it", file, k, e)
					}
				}
			}
			if err := checkFileKeys(dir, file, v[k]); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range v {
			if err := checkFileKeys(dir, file, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkPluginConfig checks generator, transformer or validator
// configurations: no Helm inflation, no KRM function (exec or container),
// and no remote file in the fields builtin plugins load.
func checkPluginConfig(dir, source string, data []byte) error {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", source, err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return fmt.Errorf("%s: %w", source, err)
		}
		if kind, _ := m["kind"].(string); kind == "HelmChartInflationGenerator" {
			return fmt.Errorf("%s: %s: Helm chart inflation is off; use a helm component for the chart", source, kind)
		}
		meta, _ := m["metadata"].(map[string]any)
		ann, _ := meta["annotations"].(map[string]any)
		for _, a := range []string{"config.kubernetes.io/function", "config.k8s.io/function"} {
			if _, ok := ann[a]; ok {
				return fmt.Errorf("%s: annotation %s: KRM functions (exec and container) are off", source, a)
			}
		}
		if err := checkFileKeys(dir, source, m); err != nil {
			return err
		}
	}
}

// stringList returns v as a list of strings: a string alone, or the
// strings of a list.
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
