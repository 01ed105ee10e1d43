package apply

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/carina-gitops/carina/apply/inventory"
)

var (
	configMapGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	namespaceGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// ReadInventory returns the inventory of (app, env), or nil when there is
// none. One that exists but does not decode, or names another app or env,
// is an error matching inventory.ErrCorrupt, never nil.
func (m *Manager) ReadInventory(ctx context.Context, app, env string) (*inventory.Inventory, error) {
	ns, name := m.opts.InventoryNamespace, inventory.Name(app, env)
	var u *unstructured.Unstructured
	err := m.retry(ctx, func() error {
		var err error
		u, err = m.dyn.Resource(configMapGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("inventory ConfigMap/%s/%s: %w", ns, name, err)
	}
	ref := "ConfigMap/" + ns + "/" + name
	var cm corev1.ConfigMap
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &cm); err != nil {
		return nil, &inventory.CorruptError{Ref: ref, Err: err}
	}
	inv, err := inventory.FromConfigMap(&cm, m.opts.Inventory)
	if err != nil {
		return nil, err
	}
	if inv.App != app || inv.Env != env {
		return nil, &inventory.CorruptError{Ref: ref, Err: fmt.Errorf("names app %q env %q, not app %q env %q", inv.App, inv.Env, app, env)}
	}
	return inv, nil
}

// inventoryPageSize bounds the ConfigMaps one page of ListInventories
// holds: inventories can be large.
const inventoryPageSize = 100

// ListInventories returns every inventory in the inventory namespace,
// sorted by app and env, reading them a page at a time. ConfigMaps that
// do not decode (over the size bounds, corrupt) are left out and their
// errors joined into the error, which comes with the inventories that
// did decode; a failed LIST returns what the pages before it held.
func (m *Manager) ListInventories(ctx context.Context) ([]*inventory.Inventory, error) {
	found, err := m.listInventories(ctx, m.opts.InventoryNamespace)
	out := make([]*inventory.Inventory, len(found))
	for i, f := range found {
		out[i] = f.Inventory
	}
	return out, err
}

// FoundInventory is an inventory and the namespace whose ConfigMap holds
// it: the API server says where it is, the inventory's content does not.
type FoundInventory struct {
	Namespace string
	*inventory.Inventory
}

// ListAllInventories is ListInventories over every namespace: a tenant's
// inventories live in its own (ImpersonateTenant). It needs the right to
// list ConfigMaps in every namespace. Sorted by app, env and namespace.
func (m *Manager) ListAllInventories(ctx context.Context) ([]FoundInventory, error) {
	return m.listInventories(ctx, metav1.NamespaceAll)
}

func (m *Manager) listInventories(ctx context.Context, ns string) ([]FoundInventory, error) {
	sel := inventory.LabelManagedBy + "=carina," + inventory.LabelInvApp + "," + inventory.LabelInvEnv
	opts := metav1.ListOptions{LabelSelector: sel, Limit: inventoryPageSize}
	where := "in " + ns
	if ns == metav1.NamespaceAll {
		where = "in every namespace"
	}
	var out []FoundInventory
	var errs []error
	for {
		var page *unstructured.UnstructuredList
		err := m.retry(ctx, func() error {
			var err error
			page, err = m.dyn.Resource(configMapGVR).Namespace(ns).List(ctx, opts)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("inventory ConfigMaps %s: list failed: %w", where, err))
			break
		}
		for _, u := range page.Items {
			var cm corev1.ConfigMap
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &cm); err != nil {
				errs = append(errs, &inventory.CorruptError{Ref: "ConfigMap/" + u.GetNamespace() + "/" + u.GetName(), Err: err})
				continue
			}
			inv, err := inventory.FromConfigMap(&cm, m.opts.Inventory)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, FoundInventory{Namespace: u.GetNamespace(), Inventory: inv})
		}
		if opts.Continue = page.GetContinue(); opts.Continue == "" {
			break
		}
	}
	slices.SortFunc(out, func(a, b FoundInventory) int {
		return cmp.Or(cmp.Compare(a.App, b.App), cmp.Compare(a.Env, b.Env), cmp.Compare(a.Namespace, b.Namespace))
	})
	return out, errors.Join(errs...)
}

// UpdateInventory reads the inventory of (app, env), lets fn change it
// (for example its Extra values) and writes it back. It fails when there
// is no inventory yet. Callers serialize calls per (app, env).
func (m *Manager) UpdateInventory(ctx context.Context, app, env string, fn func(*inventory.Inventory) error) error {
	inv, err := m.ReadInventory(ctx, app, env)
	if err != nil {
		return err
	}
	if inv == nil {
		return fmt.Errorf("app %s env %s has no inventory yet", app, env)
	}
	if err := fn(inv); err != nil {
		return err
	}
	return m.writeInventory(ctx, inv)
}

// writeInventory applies the inventory ConfigMap, creating its namespace
// when missing.
func (m *Manager) writeInventory(ctx context.Context, inv *inventory.Inventory) error {
	ns := m.opts.InventoryNamespace
	cm, err := inventory.ToConfigMap(inv, ns, m.opts.Inventory)
	if err != nil {
		return err
	}
	body, err := json.Marshal(cm)
	if err != nil {
		return err
	}
	write := func() error {
		return m.retry(ctx, func() error {
			_, err := m.dyn.Resource(configMapGVR).Namespace(ns).Patch(ctx, cm.Name, types.ApplyPatchType, body,
				metav1.PatchOptions{FieldManager: m.opts.FieldManager, Force: ptr(true)})
			return err
		})
	}
	err = write()
	if apierrors.IsNotFound(err) {
		if err = m.ensureNamespace(ctx, ns); err == nil {
			err = write()
		}
	}
	if err != nil {
		return fmt.Errorf("inventory ConfigMap/%s/%s write failed: %w", ns, cm.Name, err)
	}
	return nil
}

func (m *Manager) ensureNamespace(ctx context.Context, ns string) error {
	body, err := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": ns, "labels": map[string]any{inventory.LabelManagedBy: "carina"}},
	})
	if err != nil {
		return err
	}
	return m.retry(ctx, func() error {
		_, err := m.dyn.Resource(namespaceGVR).Patch(ctx, ns, types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: m.opts.FieldManager})
		return err
	})
}

// deleteInventory removes the inventory of (app, env).
func (m *Manager) deleteInventory(ctx context.Context, app, env string) error {
	ns, name := m.opts.InventoryNamespace, inventory.Name(app, env)
	err := m.retry(ctx, func() error {
		return m.dyn.Resource(configMapGVR).Namespace(ns).Delete(ctx, name, metav1.DeleteOptions{})
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("inventory ConfigMap/%s/%s delete failed: %w", ns, name, err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
