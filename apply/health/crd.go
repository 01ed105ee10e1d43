package health

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// crdHealth: Current once Established, Failed when its names were not
// accepted, InProgress otherwise.
func crdHealth(u *unstructured.Unstructured) (Result, error) {
	cs := conditions(u)
	if c, ok := findCondition(cs, "NamesAccepted"); ok && c.Status == "False" {
		return failed("names not accepted: %s", c.explain()), nil
	}
	if c, ok := findCondition(cs, "Established"); ok && c.Status == "True" {
		return current("established"), nil
	}
	return inProgress("not established yet"), nil
}
