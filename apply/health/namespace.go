package health

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// namespaceHealth: Current while Active, Terminating while being deleted.
func namespaceHealth(u *unstructured.Unstructured) (Result, error) {
	phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	switch phase {
	case "Terminating":
		return Result{Status: Terminating, Message: "namespace is terminating"}, nil
	case "Active", "":
		return Result{Status: Current}, nil
	}
	return inProgress("namespace is %s", phase), nil
}
