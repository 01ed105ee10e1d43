package apply

import (
	"context"
	"sort"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/internal/panics"
)

// listPageSize bounds one LIST response.
const listPageSize = 500

// scope is where to look for objects of one resource.
type scope struct {
	gvr        schema.GroupVersionResource
	namespaced bool
	namespaces map[string]bool
}

// listRequest is one LIST: a resource in a namespace ("" = all, or
// cluster-scoped).
type listRequest struct {
	gvr       schema.GroupVersionResource
	namespace string
	// fallback lists the namespaces one by one when listing all of them
	// is forbidden.
	fallback []string
}

// scopes groups the mappings of objects by resource.
func scopes(items []*item) []*scope {
	byGVR := map[schema.GroupVersionResource]*scope{}
	var out []*scope
	for _, it := range items {
		if it.mapping == nil {
			continue
		}
		gvr := it.mapping.Resource
		s, ok := byGVR[gvr]
		if !ok {
			s = &scope{gvr: gvr, namespaced: it.mapping.Scope.Name() == meta.RESTScopeNameNamespace, namespaces: map[string]bool{}}
			byGVR[gvr] = s
			out = append(out, s)
		}
		s.namespaces[it.id.Namespace] = true
	}
	return out
}

// requests turns scopes into LISTs: one per resource, in its namespace
// when it has only one.
func requests(ss []*scope) []listRequest {
	var out []listRequest
	for _, s := range ss {
		if !s.namespaced {
			out = append(out, listRequest{gvr: s.gvr})
			continue
		}
		var nss []string
		for ns := range s.namespaces {
			nss = append(nss, ns)
		}
		sort.Strings(nss)
		if len(nss) == 1 {
			out = append(out, listRequest{gvr: s.gvr, namespace: nss[0]})
		} else {
			out = append(out, listRequest{gvr: s.gvr, fallback: nss})
		}
	}
	return out
}

// ownedSelector selects the objects Carina's labels give to (app, env).
func ownedSelector(app, env string) string {
	return labels.SelectorFromSet(labels.Set{LabelApp: app, LabelEnv: env}).String()
}

// listOwned lists the live objects labelled for (app, env) of the
// resources of items, keyed by ID key. It makes one LIST per resource
// (per namespace where listing all namespaces is forbidden).
func (m *Manager) listOwned(ctx context.Context, app, env string, items []*item) (map[string]*unstructured.Unstructured, error) {
	reqs := requests(scopes(items))
	results := make([][]unstructured.Unstructured, len(reqs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(m.opts.Concurrency)
	sel := ownedSelector(app, env)
	var first panics.First
	for i, r := range reqs {
		g.Go(func() (err error) {
			first.Go("apply", func() { results[i], err = m.listRequest(gctx, r, sel) })
			return err
		})
	}
	err := g.Wait()
	first.Repanic()
	if err != nil {
		return nil, err
	}
	out := map[string]*unstructured.Unstructured{}
	for _, list := range results {
		for i := range list {
			u := &list[i]
			out[inventory.IDOf(u).Key()] = u
		}
	}
	return out, nil
}

func (m *Manager) listRequest(ctx context.Context, r listRequest, sel string) ([]unstructured.Unstructured, error) {
	items, err := m.list(ctx, m.dyn.Resource(r.gvr).Namespace(r.namespace), sel)
	if err == nil || !apierrors.IsForbidden(err) || len(r.fallback) == 0 {
		return items, err
	}
	items = nil
	for _, ns := range r.fallback {
		more, err := m.list(ctx, m.dyn.Resource(r.gvr).Namespace(ns), sel)
		if err != nil {
			return nil, err
		}
		items = append(items, more...)
	}
	return items, nil
}

// list reads every page of a LIST.
func (m *Manager) list(ctx context.Context, ri dynamic.ResourceInterface, sel string) ([]unstructured.Unstructured, error) {
	var out []unstructured.Unstructured
	opts := metav1.ListOptions{LabelSelector: sel, Limit: listPageSize}
	for {
		var page *unstructured.UnstructuredList
		err := m.retry(ctx, func() error {
			var err error
			page, err = ri.List(ctx, opts)
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, u := range page.Items {
			if u.GetKind() == "" { // list items may lack their kind
				u.SetGroupVersionKind(schema.FromAPIVersionAndKind(page.GetAPIVersion(), trimList(page.GetKind())))
			}
			out = append(out, u)
		}
		if opts.Continue = page.GetContinue(); opts.Continue == "" {
			return out, nil
		}
	}
}

func trimList(kind string) string {
	if len(kind) > 4 && kind[len(kind)-4:] == "List" {
		return kind[:len(kind)-4]
	}
	return kind
}

// get reads one object; a missing object is (nil, nil).
func (m *Manager) get(ctx context.Context, mp *meta.RESTMapping, id ID) (*unstructured.Unstructured, error) {
	var u *unstructured.Unstructured
	err := m.retry(ctx, func() error {
		var err error
		u, err = m.resource(mp, id.Namespace).Get(ctx, id.Name, metav1.GetOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, &ObjectError{ID: id, Op: "get", Err: err}
	}
	return u, nil
}

// resource returns the client of a mapping in a namespace (ignored for
// cluster-scoped resources).
func (m *Manager) resource(mp *meta.RESTMapping, namespace string) dynamic.ResourceInterface {
	if mp.Scope.Name() == meta.RESTScopeNameNamespace {
		return m.dyn.Resource(mp.Resource).Namespace(namespace)
	}
	return m.dyn.Resource(mp.Resource)
}
