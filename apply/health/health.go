package health

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Status is the health of an object, as in kstatus.
type Status string

// Statuses. Their order for a rollup is rank's, not this list's.
const (
	// Current: the object is what its spec asks for.
	Current Status = "Current"
	// NotFound: the object does not exist.
	NotFound Status = "NotFound"
	// Unknown: the status could not be computed.
	Unknown Status = "Unknown"
	// InProgress: the object is on its way to its spec.
	InProgress Status = "InProgress"
	// Terminating: the object is being deleted.
	Terminating Status = "Terminating"
	// Failed: the object cannot reach its spec without a change.
	Failed Status = "Failed"
)

// rank is the one order of health in Carina, from best to worst: apply's
// rollups, the agent, its workflow gates and its status all use it
// (through Worst; agent/api maps the result with HealthOf, so that the
// API's Healthy < Progressing < Unknown < Missing < Degraded is this
// order too). A missing object is worse than one on its way.
var rank = map[Status]int{Current: 0, InProgress: 1, Terminating: 2, Unknown: 3, NotFound: 4, Failed: 5}

// Worst returns the worse of two statuses (Failed is the worst; Current the
// best).
func Worst(a, b Status) Status {
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// Result is the computed health of one object.
type Result struct {
	Status  Status `json:"status"`
	Message string `json:"message,omitempty"`
}

func current(format string, args ...any) Result {
	return Result{Current, fmt.Sprintf(format, args...)}
}

func inProgress(format string, args ...any) Result {
	return Result{InProgress, fmt.Sprintf(format, args...)}
}

func failed(format string, args ...any) Result {
	return Result{Failed, fmt.Sprintf(format, args...)}
}

// checker computes the health of one kind. It runs after the generic
// checks for deletion and observed generation.
type checker func(u *unstructured.Unstructured) (Result, error)

// checkers are the kinds with specific rules; others use the generic
// conditions.
var checkers = map[schema.GroupKind]checker{
	{Group: "apps", Kind: "Deployment"}:                               deploymentHealth,
	{Group: "apps", Kind: "StatefulSet"}:                              statefulSetHealth,
	{Group: "apps", Kind: "DaemonSet"}:                                daemonSetHealth,
	{Group: "apps", Kind: "ReplicaSet"}:                               replicaSetHealth,
	{Kind: "Pod"}:                                                     podHealth,
	{Group: "batch", Kind: "Job"}:                                     jobHealth,
	{Group: "batch", Kind: "CronJob"}:                                 cronJobHealth,
	{Kind: "Service"}:                                                 serviceHealth,
	{Kind: "PersistentVolumeClaim"}:                                   pvcHealth,
	{Group: "networking.k8s.io", Kind: "Ingress"}:                     ingressHealth,
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}: crdHealth,
	{Kind: "Namespace"}:                                               namespaceHealth,
}

// Compute returns the health of a live object: NotFound for nil,
// Terminating once deletion started, InProgress while the controller has
// not observed the latest generation, then the kind's own rules, or the
// generic condition rules (Stalled, Reconciling, Ready) for other kinds.
// Objects without status (ConfigMaps, Secrets, RBAC) are Current.
func Compute(u *unstructured.Unstructured) (Result, error) {
	if u == nil {
		return Result{Status: NotFound, Message: "object does not exist"}, nil
	}
	if u.GetDeletionTimestamp() != nil {
		return Result{Status: Terminating, Message: "object is being deleted"}, nil
	}
	if r, ok := generationPending(u); ok {
		return r, nil
	}
	check, ok := checkers[u.GroupVersionKind().GroupKind()]
	if !ok {
		check = genericHealth
	}
	r, err := check(u)
	if err != nil {
		return Result{Status: Unknown, Message: err.Error()}, fmt.Errorf("%s/%s: health: %w", u.GetKind(), u.GetName(), err)
	}
	return r, nil
}

// generationPending reports InProgress when status.observedGeneration is
// behind metadata.generation.
func generationPending(u *unstructured.Unstructured) (Result, bool) {
	observed, ok := int64Field(u.Object, "status", "observedGeneration")
	if !ok {
		return Result{}, false
	}
	if gen := u.GetGeneration(); observed < gen {
		return inProgress("%s generation %d not observed yet (observed %d)", u.GetKind(), gen, observed), true
	}
	return Result{}, false
}

// fromUnstructured converts to a typed object.
func fromUnstructured(u *unstructured.Unstructured, out any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out)
}

// int64Field reads an integer that JSON or YAML decoding may have made an
// int64 or a float64.
func int64Field(obj map[string]any, path ...string) (int64, bool) {
	v, found, err := unstructured.NestedFieldNoCopy(obj, path...)
	if err != nil || !found {
		return 0, false
	}
	switch n := v.(type) {
	case int64:
		return n, true
	case float64:
		return int64(n), true
	}
	return 0, false
}
