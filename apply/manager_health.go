package apply

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/carina-gitops/carina/apply/health"
	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/internal/panics"
)

// ObjectHealth is the health of one object.
type ObjectHealth struct {
	ID        ID            `json:"object"`
	Component string        `json:"component,omitempty"`
	Status    health.Status `json:"status"`
	Message   string        `json:"message,omitempty"`
}

// ComponentHealth is the health of one component.
type ComponentHealth struct {
	Name    string        `json:"name"`
	Status  health.Status `json:"status"`
	Message string        `json:"message,omitempty"`
}

// HealthReport is the health of a set: per object, per component, and
// of the app (the worst of its components).
type HealthReport struct {
	App        string            `json:"app"`
	Env        string            `json:"env"`
	Status     health.Status     `json:"status"`
	Components []ComponentHealth `json:"components"`
	Objects    []ObjectHealth    `json:"objects"`
}

// NotCurrent returns the objects that are not Current.
func (r *HealthReport) NotCurrent() []ObjectHealth {
	var out []ObjectHealth
	for _, o := range r.Objects {
		if o.Status != health.Current {
			out = append(out, o)
		}
	}
	return out
}

// podOwnerKinds are the workloads whose pods explain why they are stuck.
var podOwnerKinds = map[schema.GroupKind]bool{
	{Group: "apps", Kind: "Deployment"}: true, {Group: "apps", Kind: "StatefulSet"}: true,
	{Group: "apps", Kind: "DaemonSet"}: true, {Group: "apps", Kind: "ReplicaSet"}: true,
	{Group: "batch", Kind: "Job"}: true,
}

var podGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// Health computes the set's health from the live objects once: kstatus
// rules per object, the definitions' health policies per component and
// trait, and workloads that are not ready yet are Failed when one of
// their pods cannot start.
func (m *Manager) Health(ctx context.Context, set *Set) (_ *HealthReport, err error) {
	defer panics.Recover("health", &err)
	km := newKindMapper(m, set.Objects)
	items := make([]*item, len(set.Objects))
	var mapped, readOnly []*item
	for i := range set.Objects {
		o := &set.Objects[i]
		it := &item{obj: o, id: inventory.IDOf(o.Obj), desired: o.Obj}
		items[i] = it
		if mp, err := km.mapping(o.Obj.GroupVersionKind()); err == nil {
			it.mapping = mp
			mapped = append(mapped, it)
		}
	}
	listed, err := m.listOwned(ctx, set.App, set.Env, mapped)
	if err != nil {
		return nil, fmt.Errorf("app %s env %s: listing live objects: %w", set.App, set.Env, err)
	}
	for _, it := range mapped {
		if it.live = listed[it.id.Key()]; it.live == nil && it.obj.Policies.ReadOnly {
			readOnly = append(readOnly, it)
		}
	}
	a := &applier{m: m, set: set}
	if err := a.fetch(ctx, readOnly); err != nil {
		return nil, err
	}
	objs := make([]ObjectHealth, len(items))
	m.parallel(ctx, len(items), func(ctx context.Context, i int) {
		objs[i] = m.objectHealth(ctx, items[i])
	})
	return rollup(ctx, set, items, objs), nil
}

// objectHealth computes one object's kstatus, explaining a workload that
// is not ready by its pods.
func (m *Manager) objectHealth(ctx context.Context, it *item) ObjectHealth {
	m.callHook("health", it.id)
	oh := ObjectHealth{ID: it.id, Component: it.obj.Component}
	if it.mapping == nil {
		oh.Status, oh.Message = health.Unknown, "kind is not served by the cluster"
		return oh
	}
	r, _ := health.Compute(it.live)
	oh.Status, oh.Message = r.Status, r.Message
	if r.Status == health.InProgress && podOwnerKinds[it.id.GroupKind()] {
		if problem := m.podProblem(ctx, it.live); problem != "" {
			oh.Status, oh.Message = health.Failed, r.Message+": "+problem
		}
	}
	return oh
}

// podProblem returns the first problem of a workload's pods, or "".
func (m *Manager) podProblem(ctx context.Context, workload *unstructured.Unstructured) string {
	raw, ok, _ := unstructured.NestedMap(workload.Object, "spec", "selector")
	if !ok {
		return ""
	}
	var ls metav1.LabelSelector
	if err := fromMap(raw, &ls); err != nil {
		return ""
	}
	sel, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil || sel.Empty() {
		return ""
	}
	pods, err := m.list(ctx, m.dyn.Resource(podGVR).Namespace(workload.GetNamespace()), sel.String())
	if err != nil {
		return ""
	}
	for i := range pods {
		if p := health.PodProblem(&pods[i]); p != "" {
			return p
		}
	}
	return ""
}
