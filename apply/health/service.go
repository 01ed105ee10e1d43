package health

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// serviceHealth: a LoadBalancer Service is InProgress until it has an
// ingress address. kstatus waits only for spec.clusterIP, which the API
// server sets at creation, so it calls the Service Current before anyone
// can reach it. Other Services are kstatus's (Current).
func serviceHealth(u *unstructured.Unstructured, ks Result) (Result, error) {
	var s corev1.Service
	if err := fromUnstructured(u, &s); err != nil {
		return Result{}, err
	}
	if s.Spec.Type == corev1.ServiceTypeLoadBalancer && len(s.Status.LoadBalancer.Ingress) == 0 {
		return inProgress("waiting for a load balancer address"), nil
	}
	return ks, nil
}
