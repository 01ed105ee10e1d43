package render

import (
	"testing"
)

// FuzzDecodeYAMLStream feeds manifests, which come from application
// repositories, to the YAML decoder with a small node budget: nothing may
// panic, and every decoded document is an object.
func FuzzDecodeYAMLStream(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: List\nitems: []\n"))
	f.Add([]byte("a: &a [1, 2]\nb: [*a, *a]\n<<: {c: 1}\n"))
	f.Add([]byte("x: &x {y: *x}\n"))
	f.Add([]byte("- 1\n- 2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := decodeYAMLStream("fuzz.yaml", data, 2000)
		if err != nil {
			return
		}
		for _, d := range docs {
			if d == nil {
				t.Fatal("nil document")
			}
		}
	})
}
