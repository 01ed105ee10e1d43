package health

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// cronJobHealth: a CronJob is Current once it exists (as in kstatus); the
// health of its runs belongs to their Jobs.
func cronJobHealth(u *unstructured.Unstructured) (Result, error) {
	if last, ok, _ := unstructured.NestedString(u.Object, "status", "lastScheduleTime"); ok {
		return current("last scheduled at %s", last), nil
	}
	return current("not scheduled yet"), nil
}
