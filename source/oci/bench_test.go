package oci_test

import (
	"fmt"
	"testing"
)

// twentyObjects is an app of 20 manifests, the size the issue measures.
func twentyObjects(rev int) map[string]string {
	files := map[string]string{}
	for i := range 20 {
		files[fmt.Sprintf("deploy/cm-%02d.yaml", i)] = fmt.Sprintf(
			"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%02d\ndata:\n  rev: %q\n  payload: %q\n", i, fmt.Sprint(rev), fmt.Sprintf("%0512d", i))
	}
	return files
}

// BenchmarkOCIPull measures a poll that finds a new digest: resolve the
// tag, pull the layer over TLS with basic auth, extract 20 files.
func BenchmarkOCIPull(b *testing.B) {
	reg, f, ref := setup(b)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		reg.PushFlux(b, "apps/shop", "latest", twentyObjects(i))
		b.StartTimer()
		if _, err := f.Fetch(b.Context(), ref); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(f.Stats().Pulls)/float64(b.N), "pulls/op")
}

// BenchmarkOCINoChangePoll measures a poll that finds the same digest:
// one resolve, no download.
func BenchmarkOCINoChangePoll(b *testing.B) {
	reg, f, ref := setup(b)
	reg.PushFlux(b, "apps/shop", "latest", twentyObjects(0))
	if _, err := f.Fetch(b.Context(), ref); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := f.Fetch(b.Context(), ref); err != nil {
			b.Fatal(err)
		}
	}
	if f.Stats().Pulls != 1 {
		b.Fatalf("pulled %d times", f.Stats().Pulls)
	}
}
