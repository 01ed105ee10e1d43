package health

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// replicaSetHealth: Failed on ReplicaFailure, with the API's reason (a
// quota, an admission policy or a missing ServiceAccount refused the
// pods). kstatus says InProgress with "Check Pods", but there are no pods
// to check and nothing changes until someone acts, so Carina's waits
// would time out without the reason. kstatus decides the replica counts.
func replicaSetHealth(u *unstructured.Unstructured, ks Result) (Result, error) {
	var r appsv1.ReplicaSet
	if err := fromUnstructured(u, &r); err != nil {
		return Result{}, err
	}
	for _, c := range r.Status.Conditions {
		if c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue {
			return failed("replica failure: %s", join(c.Reason, c.Message)), nil
		}
	}
	return ks, nil
}
