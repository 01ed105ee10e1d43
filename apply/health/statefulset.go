package health

import (
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// statefulSetHealth: InProgress until every replica is ready and, with the
// RollingUpdate strategy, updated to the current revision (respecting the
// partition); Current after that.
func statefulSetHealth(u *unstructured.Unstructured) (Result, error) {
	var s appsv1.StatefulSet
	if err := fromUnstructured(u, &s); err != nil {
		return Result{}, err
	}
	want := replicasOf(s.Spec.Replicas)
	st := s.Status
	if st.ReadyReplicas < want {
		return inProgress("ready %d of %d replicas", st.ReadyReplicas, want), nil
	}
	if s.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return current("StatefulSet has %d ready replicas (OnDelete updates)", st.ReadyReplicas), nil
	}
	partition := int32(0)
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = *ru.Partition
	}
	if wantUpdated := want - partition; wantUpdated > 0 && st.UpdatedReplicas < wantUpdated {
		return inProgress("updated %d of %d replicas", st.UpdatedReplicas, wantUpdated), nil
	}
	if partition == 0 && st.UpdateRevision != "" && st.CurrentRevision != st.UpdateRevision {
		return inProgress("rolling update to revision %s in progress", st.UpdateRevision), nil
	}
	return current("StatefulSet has %d ready replicas", st.ReadyReplicas), nil
}
