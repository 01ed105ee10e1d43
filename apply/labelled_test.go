package apply

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestDerivedObjectsAreNotAdopted: what a controller made from Carina's
// objects (copying their labels) is never taken for Carina's own.
func TestDerivedObjectsAreNotAdopted(t *testing.T) {
	obj := func(apiVersion, kind string, labels map[string]string, controller *bool) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(apiVersion)
		u.SetKind(kind)
		u.SetName("web")
		u.SetLabels(labels)
		if controller != nil {
			u.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "1", Controller: controller}})
		}
		return u
	}
	yes, no := true, false
	tests := []struct {
		name string
		u    *unstructured.Unstructured
		want bool
	}{
		{"a Deployment Carina applied", obj("apps/v1", "Deployment", nil, nil), false},
		{"its ReplicaSet", obj("apps/v1", "ReplicaSet", nil, &yes), true},
		{"an object with a non-controller owner", obj("v1", "ConfigMap", nil, &no), false},
		{"a Service's Endpoints", obj("v1", "Endpoints", map[string]string{"endpoints.kubernetes.io/managed-by": "endpoint-controller"}, nil), true},
		{"Endpoints Carina applied", obj("v1", "Endpoints", nil, nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := derived(tt.u); got != tt.want {
				t.Errorf("derived = %v, want %v", got, tt.want)
			}
		})
	}
}
