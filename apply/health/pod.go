package health

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// failingWaitReasons are container waiting reasons that do not resolve
// without a change.
var failingWaitReasons = map[string]bool{
	"CrashLoopBackOff": true, "ImagePullBackOff": true, "ErrImagePull": true, "InvalidImageName": true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
	"ErrImageNeverPull": true, "PreStartHookError": true, "PostStartHookError": true,
}

// podHealth: Failed when the pod failed or a container cannot start or
// keeps crashing (PodProblem); InProgress, with the scheduler's reason,
// while it is not scheduled. kstatus calls a failed pod Current
// ("completed, but not successfully"), sees only CrashLoopBackOff among
// the container problems, and turns an unschedulable pod Failed 15
// seconds after its creation, which reads the clock (Compute would not be
// pure) and fails apps that a cluster autoscaler is about to make room
// for. kstatus decides the rest (Succeeded, Ready, Pending).
func podHealth(u *unstructured.Unstructured, ks Result) (Result, error) {
	var p corev1.Pod
	if err := fromUnstructured(u, &p); err != nil {
		return Result{}, err
	}
	if problem := podProblem(&p); problem != "" {
		return failed("%s", problem), nil
	}
	if p.Status.Phase == corev1.PodPending {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				return inProgress("pod is not scheduled: %s", join(c.Reason, c.Message)), nil
			}
		}
	}
	return ks, nil
}

// PodProblem explains why a pod cannot become ready without a change (a
// failed phase, a container that cannot start, keeps crashing or failed
// where it will not restart), or returns "" when there is no such
// problem. Workload health uses it to say why a Deployment is stuck.
func PodProblem(u *unstructured.Unstructured) string {
	var p corev1.Pod
	if err := fromUnstructured(u, &p); err != nil {
		return ""
	}
	return podProblem(&p)
}

func podProblem(p *corev1.Pod) string {
	statuses := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, cs := range statuses {
		if w := cs.State.Waiting; w != nil && failingWaitReasons[w.Reason] {
			return fmt.Sprintf("pod %s: container %s: %s", p.Name, cs.Name, join(w.Reason, w.Message))
		}
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 && (p.Status.Phase == corev1.PodFailed || p.Spec.RestartPolicy == corev1.RestartPolicyNever) {
			return fmt.Sprintf("pod %s: container %s terminated with exit code %d: %s", p.Name, cs.Name, t.ExitCode, join(t.Reason, t.Message))
		}
	}
	if p.Status.Phase == corev1.PodFailed {
		return fmt.Sprintf("pod %s failed: %s", p.Name, join(p.Status.Reason, p.Status.Message))
	}
	return ""
}
