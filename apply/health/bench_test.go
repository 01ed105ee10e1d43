package health

import (
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// BenchmarkCompute computes the health of every fixture in testdata/ once
// per iteration: the per-object cost of a health read, without the API.
func BenchmarkCompute(b *testing.B) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil || len(files) == 0 {
		b.Fatalf("fixtures: %v", err)
	}
	objs := make([]*unstructured.Unstructured, len(files))
	for i, f := range files {
		objs[i] = load(b, filepath.Base(f))
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, u := range objs {
			if _, err := Compute(u); err != nil {
				b.Fatal(err)
			}
		}
	}
}
