package health

import (
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ingressHealth: an Ingress is Current once it exists, as in kstatus: many
// controllers never publish an address, so waiting for one could hang.
// The message lists the addresses when there are some.
func ingressHealth(u *unstructured.Unstructured) (Result, error) {
	var in networkingv1.Ingress
	if err := fromUnstructured(u, &in); err != nil {
		return Result{}, err
	}
	var addrs []string
	for _, lb := range in.Status.LoadBalancer.Ingress {
		if lb.IP != "" {
			addrs = append(addrs, lb.IP)
		} else if lb.Hostname != "" {
			addrs = append(addrs, lb.Hostname)
		}
	}
	if len(addrs) == 0 {
		return current("no address published"), nil
	}
	return current("addresses %s", strings.Join(addrs, ", ")), nil
}
