package capabilities

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"sort"
	"sync"
)

// builtinFS is Carina's built-in definition library: our own CUE in
// KubeVela's definition format, with parameter names compatible with
// KubeVela's built-ins where a user would expect them.
//
//go:embed builtin
var builtinFS embed.FS

// BuiltinModule returns the embedded library as the lowest-precedence
// module. Its revision is the digest of its files.
func BuiltinModule() Module {
	return Module{Source: SourceBuiltin, FS: builtinFS, Dir: "builtin", Revision: builtinRevision()}
}

var builtinRevision = sync.OnceValue(func() string {
	var names []string
	_ = fs.WalkDir(builtinFS, "builtin", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		data, _ := fs.ReadFile(builtinFS, n)
		h.Write([]byte(n))
		h.Write([]byte{0})
		h.Write(data)
		h.Write([]byte{0})
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
})
