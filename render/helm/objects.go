package helm

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
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
// `helm template` prints them: CRDs from crds/, manifests in helm's install
// order, then hooks. Partials (_*.tpl) and NOTES.txt are not manifests.
//
// It does what helm's releaseutil.SortManifests does, but parses each
// document once instead of twice and does not log: on large charts that
// halves the render time.
func collectObjects(chrt *chart.Chart, files map[string]string, includeCRDs bool, o Options) ([]*unstructured.Unstructured, error) {
	names := make([]string, 0, len(files))
	for name, content := range files {
		base := path.Base(name)
		if strings.HasPrefix(base, "_") || base == "NOTES.txt" || strings.TrimSpace(content) == "" {
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	var out, manifests, hooks []*unstructured.Unstructured
	if includeCRDs {
		for _, crd := range chrt.CRDObjects() {
			objs, err := decodeDocuments(crd.Filename, crd.File.Data)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
	}
	for _, name := range names {
		objs, err := decodeDocuments(name, []byte(files[name]))
		if err != nil {
			return nil, err
		}
		for _, obj := range objs {
			events, isHook := hookEvents(obj)
			switch {
			case !isHook:
				manifests = append(manifests, obj)
			case o.IncludeHooks && appliedHook(events):
				hooks = append(hooks, obj)
			}
		}
	}
	sortByInstallOrder(manifests)
	sortByInstallOrder(hooks)
	return slices.Concat(out, manifests, hooks), nil
}

// hookEvents reads the helm.sh/hook annotation. An object with an event
// helm does not know is a hook with no events, which helm skips.
func hookEvents(obj *unstructured.Unstructured) ([]release.HookEvent, bool) {
	value, ok := obj.GetAnnotations()[release.HookAnnotation]
	if !ok {
		return nil, false
	}
	var events []release.HookEvent
	for _, e := range strings.Split(value, ",") {
		ev := release.HookEvent(strings.ToLower(strings.TrimSpace(e)))
		if !slices.Contains(knownHookEvents, ev) {
			return nil, true
		}
		events = append(events, ev)
	}
	return events, true
}

var knownHookEvents = []release.HookEvent{
	release.HookPreInstall, release.HookPostInstall, release.HookPreDelete, release.HookPostDelete,
	release.HookPreUpgrade, release.HookPostUpgrade, release.HookPreRollback, release.HookPostRollback, release.HookTest,
}

// appliedHook says whether a hook belongs in a GitOps render: it must run on
// install or upgrade, and must not be a test.
func appliedHook(events []release.HookEvent) bool {
	applied := false
	for _, e := range events {
		switch e {
		case release.HookTest:
			return false
		case release.HookPreInstall, release.HookPostInstall, release.HookPreUpgrade, release.HookPostUpgrade:
			applied = true
		}
	}
	return applied
}

// sortByInstallOrder orders objects by kind as helm installs them; kinds
// helm does not list come last, by name; the sort is stable.
func sortByInstallOrder(objs []*unstructured.Unstructured) {
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int {
		ka, kb := a.GetKind(), b.GetKind()
		ia, aok := installRank[ka]
		ib, bok := installRank[kb]
		switch {
		case aok && bok:
			return cmp.Compare(ia, ib)
		case aok:
			return -1
		case bok:
			return 1
		default:
			return strings.Compare(ka, kb)
		}
	})
}

var installRank = func() map[string]int {
	m := make(map[string]int, len(releaseutil.InstallOrder))
	for i, k := range releaseutil.InstallOrder {
		m[k] = i
	}
	return m
}()

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
