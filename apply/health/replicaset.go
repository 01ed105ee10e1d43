package health

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// replicaSetHealth: Failed on ReplicaFailure (for example a quota refused
// its pods); InProgress until every replica is available; Current after.
func replicaSetHealth(u *unstructured.Unstructured) (Result, error) {
	var r appsv1.ReplicaSet
	if err := fromUnstructured(u, &r); err != nil {
		return Result{}, err
	}
	for _, c := range r.Status.Conditions {
		if c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue {
			return failed("replica failure: %s: %s", c.Reason, c.Message), nil
		}
	}
	want := replicasOf(r.Spec.Replicas)
	if r.Status.AvailableReplicas < want {
		return inProgress("available %d of %d replicas", r.Status.AvailableReplicas, want), nil
	}
	return current("ReplicaSet has %d available replicas", r.Status.AvailableReplicas), nil
}
