package health

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// pvcHealth: Current once Bound, Failed when Lost, InProgress while Pending.
func pvcHealth(u *unstructured.Unstructured) (Result, error) {
	var p corev1.PersistentVolumeClaim
	if err := fromUnstructured(u, &p); err != nil {
		return Result{}, err
	}
	switch p.Status.Phase {
	case corev1.ClaimBound:
		return current("bound to %s", p.Spec.VolumeName), nil
	case corev1.ClaimLost:
		return failed("claim lost its volume %s", p.Spec.VolumeName), nil
	}
	return inProgress("claim is %s", orDefault(string(p.Status.Phase), "Pending")), nil
}
