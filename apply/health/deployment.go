package health

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// deploymentHealth: a paused Deployment is Current. kstatus has no rule
// for a pause and keeps it InProgress while its replicas lag, so a person
// who pauses a rollout would hold every wait and gate of the app until
// their timeout. kstatus decides everything else (Failed past the
// progress deadline, InProgress until replicas are updated, available
// and ready and old ones are gone).
func deploymentHealth(u *unstructured.Unstructured, ks Result) (Result, error) {
	paused, _, err := unstructured.NestedBool(u.Object, "spec", "paused")
	if err != nil {
		return Result{}, err
	}
	if paused && ks.Status == InProgress {
		return current("Deployment is paused"), nil
	}
	return ks, nil
}
