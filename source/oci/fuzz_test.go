package oci

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/carina-gitops/carina/source"
)

// FuzzExtract feeds layers (untrusted archives) to extract: no panic, and
// nothing written outside the destination.
func FuzzExtract(f *testing.F) {
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00})
	f.Add([]byte("not gzip"))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dst := filepath.Join(parent, "tree")
		_, _ = extract(t.Context(), bytes.NewReader(data), dst, source.Limits{MaxBytes: 1 << 20, MaxFiles: 100})
		entries, err := filepath.Glob(filepath.Join(parent, "*"))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e != dst {
				t.Fatalf("extract wrote %s outside its destination", e)
			}
		}
		_ = removeAll(dst)
	})
}
