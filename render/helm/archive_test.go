package helm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// tgz builds a gzip'ed tar from name → content pairs, in order.
func tgz(t testing.TB, entries ...[2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e[0], Mode: 0o644, Size: int64(len(e[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestRenderVendoredArchives renders a chart kept as a .tgz in the
// repository, and a chart whose subchart is vendored as charts/*.tgz.
func TestRenderVendoredArchives(t *testing.T) {
	shop := packageChart(t, "0.1.0")
	fsys := fstest.MapFS{
		"vendor/shop-0.1.0.tgz": {Data: shop},
		"umbrella/Chart.yaml": {Data: []byte("apiVersion: v2\nname: umbrella\nversion: 1.0.0\n" +
			"dependencies:\n- name: shop\n  version: 0.1.0\n")},
		"umbrella/values.yaml":           {Data: []byte("shop:\n  replicaCount: 7\n")},
		"umbrella/charts/shop-0.1.0.tgz": {Data: shop},
	}
	tests := []struct {
		chart    string
		replicas int64
	}{{"vendor/shop-0.1.0.tgz", 1}, {"umbrella", 7}}
	for _, tt := range tests {
		t.Run(tt.chart, func(t *testing.T) {
			objs, err := Render(t.Context(), fsys, Request{ReleaseName: "shop", Properties: map[string]any{"chart": tt.chart}}, testOptions(t))
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			var replicas int64
			for _, o := range objs {
				kinds = append(kinds, o.GetKind())
				if o.GetKind() == "Deployment" {
					replicas = o.Object["spec"].(map[string]any)["replicas"].(int64)
				}
			}
			if diff := cmp.Diff([]string{"CustomResourceDefinition", "Service", "Deployment", "Job"}, kinds); diff != "" {
				t.Errorf("kinds (-want +got):\n%s", diff)
			}
			if replicas != tt.replicas {
				t.Errorf("replicas = %d, want %d", replicas, tt.replicas)
			}
		})
	}
}

func TestLoadArchiveRefuses(t *testing.T) {
	chartYAML := "apiVersion: v2\nname: x\nversion: 1.0.0\n"
	symlink := func() []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		tw.WriteHeader(&tar.Header{Name: "x/Chart.yaml", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"})
		tw.Close()
		zw.Close()
		return buf.Bytes()
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"not gzip", []byte("plain text, not an archive"), "gzip: invalid header"},
		{"climbs out", tgz(t, [2]string{"x/Chart.yaml", chartYAML}, [2]string{"x/../../etc/passwd", "x"}), "climbs out"},
		{"absolute", tgz(t, [2]string{"x//etc/passwd", "x"}), "absolute path"},
		{"no directory", tgz(t, [2]string{"Chart.yaml", chartYAML}), "not inside the chart's directory"},
		{"symlink", symlink(), "not a regular file"},
		{"empty", tgz(t), "no files"},
		{"nested subchart over the cap", tgz(t, [2]string{"x/Chart.yaml", chartYAML},
			[2]string{"x/charts/big.tgz", string(tgz(t, [2]string{"big/Chart.yaml", chartYAML}, [2]string{"big/blob", string(make([]byte, 1<<20))}))}),
			"over the size cap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions(t)
			o.MaxChartBytes = 64 << 10
			c, err := loadArchive(tt.data, o)
			if err == nil || c != nil {
				t.Fatalf("loadArchive = %v, %v; want an error containing %q", c, err, tt.want)
			}
			if !bytes.Contains([]byte(err.Error()), []byte(tt.want)) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}
