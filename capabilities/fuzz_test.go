package capabilities

import (
	"io/fs"
	"testing"
)

// FuzzLoadDefinition feeds definition files, which come from application
// repositories and are untrusted, through loading: parsing, the shape
// checks (imports, one header of plain data, one template), the header's
// evaluation, and the construction of the template file. Nothing may panic
// or hang, and a file that does not load reports a problem. Compiling the
// template is left out: a template may legitimately run forever, which
// renders bound with their deadline.
func FuzzLoadDefinition(f *testing.F) {
	_ = fs.WalkDir(builtinFS, "builtin", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := fs.ReadFile(builtinFS, p)
			f.Add(data)
		}
		return nil
	})
	f.Add([]byte("import \"tool/exec\"\nx: {type: \"trait\"}\ntemplate: {}\n"))
	f.Add([]byte("x: {type: \"trait\", n: len([1])}\ntemplate: {}\n"))
	cache := NewCache(CacheOptions{MaxEntries: 64})
	f.Fuzz(func(t *testing.T, src []byte) {
		if len(src) > 64<<10 {
			return
		}
		d, probs := cache.definition("fuzz.cue", src, Origin{Source: SourceApp})
		if d == nil {
			if len(probs) == 0 {
				t.Fatal("no definition and no problem")
			}
			return
		}
		if _, probs := templateFile("fuzz.cue", src); len(probs) > 0 {
			t.Fatalf("loaded, but the template file does not build: %v", probs)
		}
	})
}
