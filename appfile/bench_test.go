package appfile

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkParse measures Parse plus Environments on the shop example in
// both syntaxes.
func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"shop-kubevela", "shop-appfile"} {
		data, err := os.ReadFile(filepath.Join("testdata", "golden", name+".yaml"))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				app, err := Parse(name, data)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Environments(app); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
