package oci_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"testing"
)

// tarWithEscape is a tarball whose entry leaves the root.
func tarWithEscape(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	body := []byte("x")
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "../../escape", Mode: 0o644, Size: 1}); err != nil {
		t.Fatal(err)
	}
	tw.Write(body)
	tw.Close()
	gz.Close()
	return buf.Bytes()
}
