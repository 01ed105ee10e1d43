package health

import (
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// daemonSetHealth: InProgress until a pod is scheduled, updated and
// available on every node that should run one; Current after that.
func daemonSetHealth(u *unstructured.Unstructured) (Result, error) {
	var d appsv1.DaemonSet
	if err := fromUnstructured(u, &d); err != nil {
		return Result{}, err
	}
	st := d.Status
	switch {
	case st.CurrentNumberScheduled < st.DesiredNumberScheduled:
		return inProgress("scheduled %d of %d pods", st.CurrentNumberScheduled, st.DesiredNumberScheduled), nil
	case st.UpdatedNumberScheduled < st.DesiredNumberScheduled:
		return inProgress("updated %d of %d pods", st.UpdatedNumberScheduled, st.DesiredNumberScheduled), nil
	case st.NumberAvailable < st.DesiredNumberScheduled:
		return inProgress("available %d of %d pods", st.NumberAvailable, st.DesiredNumberScheduled), nil
	}
	return current("DaemonSet has %d available pods", st.NumberAvailable), nil
}
