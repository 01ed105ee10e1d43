package health

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// deploymentHealth: Failed when the progress deadline is exceeded;
// InProgress until every replica is updated and available and old
// replicas are gone; Current after that (or while paused).
func deploymentHealth(u *unstructured.Unstructured) (Result, error) {
	var d appsv1.Deployment
	if err := fromUnstructured(u, &d); err != nil {
		return Result{}, err
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return failed("progress deadline exceeded: %s", c.Message), nil
		}
	}
	if d.Spec.Paused {
		return current("Deployment is paused"), nil
	}
	want := replicasOf(d.Spec.Replicas)
	st := d.Status
	switch {
	case st.UpdatedReplicas < want:
		return inProgress("updated %d of %d replicas", st.UpdatedReplicas, want), nil
	case st.Replicas > st.UpdatedReplicas:
		return inProgress("%d old replicas are pending termination", st.Replicas-st.UpdatedReplicas), nil
	case st.AvailableReplicas < st.UpdatedReplicas:
		return inProgress("available %d of %d updated replicas", st.AvailableReplicas, st.UpdatedReplicas), nil
	}
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionFalse {
			return inProgress("not available: %s", c.Message), nil
		}
	}
	return current("Deployment is available with %d replicas", st.AvailableReplicas), nil
}

// replicasOf defaults spec.replicas to 1.
func replicasOf(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}
