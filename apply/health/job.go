package health

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// jobHealth: InProgress while the Job runs, Current once Complete or
// while suspended, Failed with the controller's reason. kstatus calls a
// started Job Current (so that a tool that only applies does not wait for
// it), but Carina's wait-healthy and promote gates must not pass while a
// migration Job may still fail; it calls a suspended Job that never
// started InProgress, which never ends; and its failure message drops
// the controller's reason (BackoffLimitExceeded, DeadlineExceeded, ...).
func jobHealth(u *unstructured.Unstructured, ks Result) (Result, error) {
	var j batchv1.Job
	if err := fromUnstructured(u, &j); err != nil {
		return Result{}, err
	}
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobFailed:
			return failed("job failed: %s", join(c.Reason, c.Message)), nil
		case batchv1.JobComplete:
			return ks, nil
		case batchv1.JobSuspended:
			return current("job is suspended"), nil
		}
	}
	if ks.Status != Current {
		return ks, nil // not started yet
	}
	st := j.Status
	return inProgress("job is running: %d active, %d succeeded, %d failed pods", st.Active, st.Succeeded, st.Failed), nil
}
