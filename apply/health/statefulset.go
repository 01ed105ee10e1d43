package health

import (
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// statefulSetHealth: with the OnDelete update strategy, InProgress until
// every replica is ready. kstatus calls such a StatefulSet Current at
// once, ready or not, because it cannot know when pods are meant to be
// replaced; readiness it can know, and a wait on a database that has no
// ready replica must not pass. kstatus decides the RollingUpdate
// strategy (ready and updated replicas, the partition).
func statefulSetHealth(u *unstructured.Unstructured, ks Result) (Result, error) {
	var s appsv1.StatefulSet
	if err := fromUnstructured(u, &s); err != nil {
		return Result{}, err
	}
	if s.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType {
		return ks, nil
	}
	want := int32(1)
	if s.Spec.Replicas != nil {
		want = *s.Spec.Replicas
	}
	if s.Status.ReadyReplicas < want {
		return inProgress("ready %d of %d replicas (OnDelete updates)", s.Status.ReadyReplicas, want), nil
	}
	return ks, nil
}
