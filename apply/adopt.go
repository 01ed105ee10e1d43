package apply

import (
	"context"
	"encoding/json"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// KubeVela's marks on the objects it applies.
const (
	// KubeVelaFieldManager is the field manager KubeVela writes with.
	KubeVelaFieldManager = "kubevela"
	// KubeVelaLabelApp names the KubeVela Application of an object.
	KubeVelaLabelApp = "app.oam.dev/name"
	// ReasonAdopted is the change-set reason of an object taken over from
	// KubeVela.
	ReasonAdopted = "adopted from KubeVela"

	kubevelaGroup       = "core.oam.dev/"
	resourceTrackerKind = "ResourceTracker"
)

// fromKubeVela reports whether live is an object KubeVela applied for the
// application of the same name: its app.oam.dev/name label names app, and
// a ResourceTracker owns it or the kubevela field manager wrote it.
func fromKubeVela(live *unstructured.Unstructured, app string) bool {
	if live == nil || live.GetLabels()[KubeVelaLabelApp] != app {
		return false
	}
	for _, ref := range live.GetOwnerReferences() {
		if isResourceTracker(ref) {
			return true
		}
	}
	for _, mf := range live.GetManagedFields() {
		if mf.Manager == KubeVelaFieldManager {
			return true
		}
	}
	return false
}

func isResourceTracker(ref metav1.OwnerReference) bool {
	return ref.Kind == resourceTrackerKind && strings.HasPrefix(ref.APIVersion, kubevelaGroup)
}

// releaseFromKubeVela makes KubeVela's object Carina's before Carina's
// first apply of it, in one JSON patch guarded by the resourceVersion it
// was read at: the owner references to ResourceTrackers go (so that
// deleting KubeVela's Application no longer deletes the object), and the
// fields KubeVela's manager owned pass to Carina's, so that Carina's apply
// removes what its render no longer has (KubeVela's top-level labels).
// The object keeps its UID; nothing is deleted or created.
func (m *Manager) releaseFromKubeVela(ctx context.Context, it *item) error {
	live := it.live
	var refs []metav1.OwnerReference
	for _, ref := range live.GetOwnerReferences() {
		if !isResourceTracker(ref) {
			refs = append(refs, ref)
		}
	}
	fields, err := handOver(live.GetManagedFields(), m.opts.FieldManager)
	if err != nil {
		return &ObjectError{ID: it.id, Op: "adopt", Err: err}
	}
	if refs == nil {
		refs = []metav1.OwnerReference{}
	}
	patch := []map[string]any{
		{"op": "test", "path": "/metadata/resourceVersion", "value": live.GetResourceVersion()},
		{"op": "replace", "path": "/metadata/managedFields", "value": fields},
	}
	if len(live.GetOwnerReferences()) > 0 {
		patch = append(patch, map[string]any{"op": "replace", "path": "/metadata/ownerReferences", "value": refs})
	}
	body, err := json.Marshal(patch)
	if err != nil {
		return &ObjectError{ID: it.id, Op: "adopt", Err: err}
	}
	err = m.retry(ctx, func() error {
		_, err := m.resource(it.mapping, it.id.Namespace).Patch(ctx, it.id.Name, types.JSONPatchType, body, metav1.PatchOptions{})
		return err
	})
	if err != nil {
		return classify(it.id, "adopt", err)
	}
	return nil
}

// handOver gives the kubevela manager's entries to manager as Apply
// entries, merging the field sets of entries with the same API version.
func handOver(in []metav1.ManagedFieldsEntry, manager string) ([]metav1.ManagedFieldsEntry, error) {
	var out []metav1.ManagedFieldsEntry
	ours := map[string]int{} // API version -> index in out of manager's Apply entry
	add := func(e metav1.ManagedFieldsEntry) error {
		i, ok := ours[e.APIVersion]
		if !ok {
			e.Manager, e.Operation, e.Subresource = manager, metav1.ManagedFieldsOperationApply, ""
			ours[e.APIVersion] = len(out)
			out = append(out, e)
			return nil
		}
		merged, err := mergeFieldSets(out[i].FieldsV1, e.FieldsV1)
		if err != nil {
			return err
		}
		out[i].FieldsV1 = merged
		return nil
	}
	for _, e := range in {
		switch {
		case e.Subresource != "":
			out = append(out, e)
		case e.Manager == KubeVelaFieldManager || (e.Manager == manager && e.Operation == metav1.ManagedFieldsOperationApply):
			if err := add(e); err != nil {
				return nil, err
			}
		default:
			out = append(out, e)
		}
	}
	return out, nil
}

// mergeFieldSets unions two fieldsV1 sets.
func mergeFieldSets(a, b *metav1.FieldsV1) (*metav1.FieldsV1, error) {
	if a == nil {
		return b, nil
	}
	if b == nil {
		return a, nil
	}
	var x, y map[string]any
	if err := json.Unmarshal(a.Raw, &x); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b.Raw, &y); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(unionFields(x, y))
	if err != nil {
		return nil, err
	}
	return &metav1.FieldsV1{Raw: raw}, nil
}

func unionFields(x, y map[string]any) map[string]any {
	for k, v := range y {
		xm, ok1 := x[k].(map[string]any)
		ym, ok2 := v.(map[string]any)
		if ok1 && ok2 {
			x[k] = unionFields(xm, ym)
		} else if _, ok := x[k]; !ok {
			x[k] = v
		}
	}
	return x
}
