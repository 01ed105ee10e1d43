package helm

import (
	"fmt"
	"path"
	"strings"
)

// repoPath resolves rel, a path written in the application's properties,
// against the application directory dir, and refuses any result outside the
// repository root. what names the property for the error message.
//
// Symlinks are the file system's business: the snapshot's fs.FS refuses any
// that leads out of the root, and so does os.Root.FS.
func repoPath(dir, rel, what string) (string, error) {
	if rel == "" {
		return "", fmt.Errorf("%s is empty", what)
	}
	if path.IsAbs(rel) || strings.HasPrefix(rel, `\`) || (len(rel) > 1 && rel[1] == ':') {
		return "", fmt.Errorf("%s %q is absolute; it must be relative to the application directory", what, rel)
	}
	if strings.ContainsRune(rel, '\\') {
		return "", fmt.Errorf("%s %q contains a backslash; use / as the separator", what, rel)
	}
	p := path.Join(dir, rel)
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("%s %q escapes the repository root", what, rel)
	}
	return p, nil
}
