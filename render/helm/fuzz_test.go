package helm

import (
	"testing"
)

// FuzzLoadArchive feeds arbitrary bytes to the chart archive loader: it
// must return a chart or an error, never panic, and never exceed its caps.
func FuzzLoadArchive(f *testing.F) {
	f.Add(tgz(f, [2]string{"x/Chart.yaml", "apiVersion: v2\nname: x\nversion: 1.0.0\n"},
		[2]string{"x/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"}))
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00})
	o := DefaultOptions()
	o.MaxChartBytes = 1 << 20
	o.MaxFileBytes = 256 << 10
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := loadArchive(data, o)
		if err == nil && c == nil {
			t.Fatal("no chart and no error")
		}
	})
}

// FuzzDecodeDocuments feeds arbitrary YAML streams to the manifest decoder.
// Every object it returns must have an apiVersion and a kind.
func FuzzDecodeDocuments(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n---\n# empty\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n"))
	f.Add([]byte(aliasBomb))
	f.Add([]byte("- a\n- b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := decodeDocuments("fuzz.yaml", data)
		if err != nil {
			return
		}
		for _, o := range objs {
			if o.GetKind() == "" || o.GetAPIVersion() == "" {
				t.Fatalf("object without kind or apiVersion: %v", o.Object)
			}
		}
	})
}

// FuzzParseIndex feeds arbitrary bytes to the repository index parser and
// resolves a version in whatever it returns.
func FuzzParseIndex(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nentries:\n  shop:\n  - name: shop\n    version: 0.1.0\n    urls: [shop-0.1.0.tgz]\n    digest: abc\n  - null\n"))
	f.Add([]byte(`{"apiVersion":"v1","entries":{"x":[{"version":"not-semver"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := parseIndex(data)
		if err != nil {
			return
		}
		for name := range idx.Entries {
			_, _ = idx.Get(name, "")
			_, _ = idx.Get(name, ">=0.1")
		}
	})
}
