package apply

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestHandOver: KubeVela's entries become one Apply entry of Carina's per
// API version, merged with Carina's own; other managers stay.
func TestHandOver(t *testing.T) {
	fs := func(s string) *metav1.FieldsV1 { return &metav1.FieldsV1{Raw: []byte(s)} }
	in := []metav1.ManagedFieldsEntry{
		{Manager: "kubevela", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "apps/v1", FieldsV1: fs(`{"f:metadata":{"f:labels":{"f:a":{}}}}`)},
		{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "apps/v1", Subresource: "status", FieldsV1: fs(`{"f:status":{}}`)},
		{Manager: "carina", Operation: metav1.ManagedFieldsOperationApply, APIVersion: "apps/v1", FieldsV1: fs(`{"f:metadata":{"f:labels":{"f:b":{}}}}`)},
		{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "apps/v1", FieldsV1: fs(`{"f:spec":{}}`)},
	}
	got, err := handOver(in, "carina")
	if err != nil {
		t.Fatal(err)
	}
	var desc []string
	for _, e := range got {
		desc = append(desc, e.Manager+" "+string(e.Operation)+" "+e.Subresource+" "+string(e.FieldsV1.Raw))
	}
	want := []string{
		`carina Apply  {"f:metadata":{"f:labels":{"f:a":{},"f:b":{}}}}`,
		`kube-controller-manager Update status {"f:status":{}}`,
		`kubectl Update  {"f:spec":{}}`,
	}
	if !slices.Equal(want, desc) {
		t.Errorf("handOver =\n%s\nwant\n%s", desc, want)
	}
}
