package apply

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	crdGK       = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
	namespaceGK = schema.GroupKind{Kind: "Namespace"}
)

// errNotServed: the cluster does not serve a kind, even after a refresh of
// discovery.
var errNotServed = errors.New("not served by the cluster")

// kindMapper maps kinds to resources for one call. It refreshes discovery
// at most once per reset, so that a set full of unknown kinds does not
// storm the discovery endpoints.
type kindMapper struct {
	m         *Manager
	refreshed bool
	cache     map[schema.GroupVersionKind]*meta.RESTMapping
	// fromSet are the kinds that CRDs in the set define.
	fromSet map[schema.GroupKind]bool
}

func newKindMapper(m *Manager, objs []Object) *kindMapper {
	k := &kindMapper{m: m, cache: map[schema.GroupVersionKind]*meta.RESTMapping{}, fromSet: map[schema.GroupKind]bool{}}
	for _, o := range objs {
		if o.Obj != nil && o.Obj.GroupVersionKind().GroupKind() == crdGK {
			group, _, _ := unstructured.NestedString(o.Obj.Object, "spec", "group")
			kind, _, _ := unstructured.NestedString(o.Obj.Object, "spec", "names", "kind")
			k.fromSet[schema.GroupKind{Group: group, Kind: kind}] = true
		}
	}
	return k
}

// mapping returns the resource of a kind, refreshing discovery once when
// the kind is unknown.
func (k *kindMapper) mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	if mp, ok := k.cache[gvk]; ok {
		return mp, nil
	}
	mp, err := k.m.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) && !k.refreshed {
		k.m.mapper.Reset()
		k.refreshed = true
		mp, err = k.m.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, fmt.Errorf("kind %s: %w", gvk, errNotServed)
		}
		return nil, fmt.Errorf("kind %s: %w", gvk, err)
	}
	k.cache[gvk] = mp
	return mp, nil
}

// groupKind maps a kind at its preferred version (for prune, where only
// the group and kind are known).
func (k *kindMapper) groupKind(gk schema.GroupKind) (*meta.RESTMapping, error) {
	return k.mapping(gk.WithVersion(""))
}

// deferred reports whether a kind is unknown now but defined by a CRD of
// the set, so that its objects must wait for the CRD.
func (k *kindMapper) deferred(gvk schema.GroupVersionKind) bool {
	if !k.fromSet[gvk.GroupKind()] {
		return false
	}
	_, err := k.m.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	return meta.IsNoMatchError(err)
}

// reset forgets discovery, after CRDs were established.
func (k *kindMapper) reset() {
	k.m.mapper.Reset()
	k.refreshed = true
	k.cache = map[schema.GroupVersionKind]*meta.RESTMapping{}
}
