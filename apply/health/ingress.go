package health

import (
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ingressHealth: kstatus has no rule for Ingress, and its verdict, Current
// once it exists, is the right one: many controllers never publish an
// address, so waiting for one could hang. This rule only puts the
// published addresses in the message, where `carina status` shows them.
func ingressHealth(u *unstructured.Unstructured, ks Result) (Result, error) {
	if ks.Status != Current {
		return ks, nil
	}
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
