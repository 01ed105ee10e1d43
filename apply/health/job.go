package health

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// jobHealth: Failed with the Failed condition, Current once Complete (or
// while suspended), InProgress while it runs.
func jobHealth(u *unstructured.Unstructured) (Result, error) {
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
			return current("job completed with %d succeeded pods", j.Status.Succeeded), nil
		case batchv1.JobSuspended:
			return current("job is suspended"), nil
		}
	}
	return inProgress("job is running: %d active, %d succeeded, %d failed pods", j.Status.Active, j.Status.Succeeded, j.Status.Failed), nil
}
