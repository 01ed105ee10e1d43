package helm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// collectObjects turns rendered templates into objects in the order
// `helm template` prints them: CRDs from crds/, manifests in install order,
// then hooks. NOTES.txt files are not manifests and are dropped.
func collectObjects(chrt *chart.Chart, files map[string]string, includeCRDs bool, o Options) ([]*unstructured.Unstructured, error) {
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	if includeCRDs {
		for _, crd := range chrt.CRDObjects() {
			objs, err := decodeDocuments(crd.Filename, crd.File.Data)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
	}
	for _, m := range manifests {
		objs, err := decodeDocuments(m.Name, []byte(m.Content))
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	if !o.IncludeHooks {
		return out, nil
	}
	for _, h := range hooks {
		if !appliedHook(h) {
			continue
		}
		objs, err := decodeDocuments(h.Path, []byte(h.Manifest))
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// appliedHook says whether a hook belongs in a GitOps render: it must run on
// install or upgrade, and must not be a test.
func appliedHook(h *release.Hook) bool {
	applied := false
	for _, e := range h.Events {
		switch e {
		case release.HookTest:
			return false
		case release.HookPreInstall, release.HookPostInstall, release.HookPreUpgrade, release.HookPostUpgrade:
			applied = true
		}
	}
	return applied
}

// decodeDocuments parses a YAML stream into objects. The YAML parser refuses
// alias bombs (excessive aliasing); the stream's size was capped earlier.
// Empty documents are skipped, a v1 List is unpacked, and a document that is
// not a Kubernetes object is an error naming its source and position.
func decodeDocuments(source string, data []byte) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []*unstructured.Unstructured
	for n := 1; ; n++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, n, err)
		}
		objs, err := decodeDocument(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, n, err)
		}
		out = append(out, objs...)
	}
}

func decodeDocument(doc []byte) ([]*unstructured.Unstructured, error) {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, err
	}
	js = bytes.TrimSpace(js)
	if bytes.Equal(js, []byte("null")) {
		return nil, nil
	}
	var m map[string]any
	if err := utiljson.Unmarshal(js, &m); err != nil {
		return nil, fmt.Errorf("not a YAML mapping: %w", err)
	}
	obj := &unstructured.Unstructured{Object: m}
	if obj.GetKind() == "" || obj.GetAPIVersion() == "" {
		return nil, errors.New("object has no apiVersion or kind")
	}
	if obj.GetKind() != "List" {
		return []*unstructured.Unstructured{obj}, nil
	}
	var out []*unstructured.Unstructured
	err = obj.EachListItem(func(item runtime.Object) error {
		u, ok := item.(*unstructured.Unstructured)
		if !ok || u.GetKind() == "" || u.GetAPIVersion() == "" {
			return errors.New("list item has no apiVersion or kind")
		}
		out = append(out, u)
		return nil
	})
	return out, err
}
