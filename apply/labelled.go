package apply

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/internal/panics"
)

// FindLabelled returns the IDs of the live objects that carry the labels
// of (app, env), in every resource the cluster can list, sorted; objects
// a controller derived from them (ReplicaSets, Pods, EndpointSlices,
// Endpoints) are left out. It is how
// a missing inventory is told from an app that has nothing in the
// cluster: when the inventory is gone but this returns objects, nothing
// may be pruned. Resources the caller may not list, and discovery
// failures, are an error (with the IDs found elsewhere): the answer is
// then incomplete. At most Inventory.MaxEntries IDs are returned.
func (m *Manager) FindLabelled(ctx context.Context, app, env string) (_ []ID, err error) {
	defer panics.Recover("apply", &err)
	gvrs, err := m.listableResources()
	results := make([][]ID, len(gvrs))
	errs := make([]error, len(gvrs))
	sel := ownedSelector(app, env)
	m.parallel(ctx, len(gvrs), func(ctx context.Context, i int) {
		items, lerr := m.list(ctx, m.dyn.Resource(gvrs[i]), sel)
		if lerr != nil {
			errs[i] = fmt.Errorf("%s: list failed: %w", gvrs[i].GroupResource(), lerr)
			return
		}
		for j := range items {
			if !derived(&items[j]) {
				results[i] = append(results[i], inventory.IDOf(&items[j]))
			}
		}
	})
	seen := map[string]bool{}
	var out []ID
	for _, ids := range results {
		for _, id := range ids {
			if !seen[id.Key()] {
				seen[id.Key()] = true
				out = append(out, id)
			}
		}
	}
	out = slices.DeleteFunc(out, func(id ID) bool { // a Service's Endpoints
		svc := ID{Kind: "Service", Namespace: id.Namespace, Name: id.Name}
		return id.Group == "" && id.Kind == "Endpoints" && seen[svc.Key()]
	})
	slices.SortFunc(out, func(a, b ID) int { return cmp.Compare(a.Key(), b.Key()) })
	if max := m.opts.Inventory.MaxEntries; max > 0 && len(out) > max {
		out = out[:max]
		errs = append(errs, fmt.Errorf("more than %d objects carry the labels: %w", max, inventory.ErrTooLarge))
	}
	if err := errors.Join(append([]error{err}, errs...)...); err != nil {
		return out, fmt.Errorf("app %s env %s: finding labelled objects: %w", app, env, err)
	}
	return out, nil
}

// derived reports whether a controller made u from an object Carina
// applied, copying its labels: a ReplicaSet or Pod of a Deployment, an
// EndpointSlice (both have a controller owner), or the Endpoints of a
// Service. Those are not Carina's objects and are never adopted.
func derived(u *unstructured.Unstructured) bool {
	for _, ref := range u.GetOwnerReferences() {
		if ref.Controller != nil && *ref.Controller {
			return true
		}
	}
	_, managed := u.GetLabels()["endpoints.kubernetes.io/managed-by"]
	return managed && u.GetKind() == "Endpoints" && u.GroupVersionKind().Group == ""
}

// listableResources returns the preferred version of every resource that
// supports list (subresources left out). A group whose discovery failed
// is an error, with the rest.
func (m *Manager) listableResources() ([]schema.GroupVersionResource, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(m.cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	lists, err := dc.ServerPreferredResources()
	var out []schema.GroupVersionResource
	for _, l := range lists {
		gv, perr := schema.ParseGroupVersion(l.GroupVersion)
		if perr != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") {
				continue
			}
			out = append(out, gv.WithResource(r.Name))
		}
	}
	if err != nil {
		return out, fmt.Errorf("discovery: %w", err)
	}
	return out, nil
}

// RebuildInventory writes a new inventory of (app, env) that adopts every
// live object carrying its labels (FindLabelled), replacing a corrupt or
// lost one. It refuses when the search was incomplete, and when a
// readable inventory exists (nothing to rebuild). It returns the IDs
// adopted. The next Apply then prunes what the set no longer has, as
// usual.
func (m *Manager) RebuildInventory(ctx context.Context, app, env string) (_ []ID, err error) {
	defer panics.Recover("apply", &err)
	old, err := m.ReadInventory(ctx, app, env)
	if err == nil && old != nil {
		return nil, fmt.Errorf("app %s env %s: the inventory is readable (%d objects); nothing to rebuild", app, env, len(old.Entries))
	}
	if err != nil && !errors.Is(err, inventory.ErrCorrupt) {
		return nil, err
	}
	ids, err := m.FindLabelled(ctx, app, env)
	if err != nil {
		return nil, fmt.Errorf("inventory not rebuilt: %w", err)
	}
	inv := &inventory.Inventory{
		App: app, Env: env, Result: inventory.ResultSuccess, Time: time.Now().UTC().Truncate(time.Second),
		Message: fmt.Sprintf("rebuilt from %d objects that carry the app's labels", len(ids)),
	}
	for _, id := range ids {
		inv.Entries = append(inv.Entries, inventory.Entry{ID: id})
	}
	inv.Normalize()
	if old == nil { // corrupt: remove it, so that none of its keys survive
		if err := m.deleteInventory(ctx, app, env); err != nil {
			return nil, err
		}
	}
	if err := m.writeInventory(ctx, inv); err != nil {
		return nil, err
	}
	return ids, nil
}
