package pin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DefaultDir is the directory of the pin files in the app repository.
const DefaultDir = "environments"

// MaxFileBytes bounds a pin file.
const MaxFileBytes = 64 << 10

// ErrNotPinned says the environment has no pin file: it follows the
// branch head.
var ErrNotPinned = errors.New("environment is not pinned")

// Pin is an environment's pinned revision.
type Pin struct {
	// Revision is a full commit id or a tag name.
	Revision string `yaml:"revision" json:"revision"`
}

var (
	envName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	hexID   = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)
	tagName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/+-]{0,199}$`)
)

// Path returns the pin file of env under dir ("" for DefaultDir):
// environments/prod.yaml.
func Path(dir, env string) (string, error) {
	if !envName.MatchString(env) {
		return "", fmt.Errorf("environment name %q is not a DNS label", env)
	}
	if dir == "" {
		dir = DefaultDir
	}
	clean := path.Clean(dir)
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("pin directory %q leaves the repository", dir)
	}
	return path.Join(clean, env+".yaml"), nil
}

// IsCommit reports whether a revision is a full commit id.
func IsCommit(rev string) bool { return hexID.MatchString(rev) }

// Validate checks a revision: a full commit id, or a tag name without
// "..", a leading "-" or control characters.
func Validate(rev string) error {
	if IsCommit(rev) {
		return nil
	}
	if !tagName.MatchString(rev) || strings.Contains(rev, "..") || strings.HasSuffix(rev, ".lock") || strings.HasSuffix(rev, "/") {
		return fmt.Errorf("revision %q is neither a full commit id nor a tag name", clip(rev, 80))
	}
	return nil
}

// Read reads the pin at file from fsys (a snapshot's FS). It returns
// ErrNotPinned when the file does not exist, and an error with file:line
// when it does not parse.
func Read(fsys fs.FS, file string) (Pin, error) {
	f, err := fsys.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return Pin{}, fmt.Errorf("%s: %w", file, ErrNotPinned)
	}
	if err != nil {
		return Pin{}, fmt.Errorf("%s: %w", file, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return Pin{}, fmt.Errorf("%s: %w", file, err)
	}
	if len(data) > MaxFileBytes {
		return Pin{}, fmt.Errorf("%s: pin file is larger than %d bytes", file, MaxFileBytes)
	}
	return Parse(file, data)
}

// Parse parses a pin file's content; errors start with file:line.
func Parse(file string, data []byte) (Pin, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return Pin{}, fmt.Errorf("%s:1: pin file is empty; it needs revision: <commit or tag>", file)
		}
		return Pin{}, fmt.Errorf("%s:%s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return Pin{}, fmt.Errorf("%s:%d: pin file must be a mapping with revision: <commit or tag>", file, root.Line)
	}
	var p Pin
	var line int
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "revision":
			if v.Kind != yaml.ScalarNode {
				return Pin{}, fmt.Errorf("%s:%d: revision must be a string", file, v.Line)
			}
			p.Revision, line = strings.TrimSpace(v.Value), v.Line
		default:
			return Pin{}, fmt.Errorf("%s:%d: unknown field %q (a pin file has revision only)", file, k.Line, clip(k.Value, 40))
		}
	}
	if line == 0 {
		return Pin{}, fmt.Errorf("%s:%d: revision is missing", file, root.Line)
	}
	if err := Validate(p.Revision); err != nil {
		return Pin{}, fmt.Errorf("%s:%d: %w", file, line, err)
	}
	return p, nil
}

// Format renders a pin file, with a comment naming what wrote it.
func Format(app, env string, p Pin) []byte {
	return fmt.Appendf(nil, "# The revision of %s that environment %s deploys; changed by carina promote.\nrevision: %s\n", app, env, p.Revision)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
