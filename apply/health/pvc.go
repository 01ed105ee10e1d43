package health

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// pvcHealth: Failed when the claim is Lost. kstatus says InProgress for
// every phase but Bound, but a claim whose volume is gone does not come
// back without a person, so a wait should fail with the reason instead of
// timing out. kstatus decides Bound (Current) and Pending (InProgress).
func pvcHealth(u *unstructured.Unstructured, ks Result) (Result, error) {
	var p corev1.PersistentVolumeClaim
	if err := fromUnstructured(u, &p); err != nil {
		return Result{}, err
	}
	if p.Status.Phase == corev1.ClaimLost {
		return failed("claim lost its volume %s", p.Spec.VolumeName), nil
	}
	return ks, nil
}
