package capabilities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// Module is a directory of definition files, one definition per .cue file
// (files ending in _test.cue and directories named cue.mod are skipped).
type Module struct {
	Source Source
	// Name prefixes the file names in positions; empty for modules whose
	// paths are already meaningful (the app repository, the built-ins).
	Name string
	// FS is the file tree, confined to its root.
	FS fs.FS
	// Dir is the module directory inside FS ("." for the root).
	Dir string
	// Revision is the revision of the snapshot the module comes from.
	Revision string
	// Optional makes a missing Dir an empty module instead of an error.
	Optional bool
}

// Limits bound how much of a module is read.
type Limits struct {
	// MaxFiles is the most .cue files a module may hold.
	MaxFiles int
	// MaxFileBytes is the largest definition file.
	MaxFileBytes int64
	// MaxTotalBytes caps the sum of a module's file sizes.
	MaxTotalBytes int64
}

// DefaultLimits allows 1,000 files of up to 1 MiB, 32 MiB in all.
func DefaultLimits() Limits {
	return Limits{MaxFiles: 1000, MaxFileBytes: 1 << 20, MaxTotalBytes: 32 << 20}
}

type moduleFile struct {
	name string // display name used in positions
	src  []byte
}

// readModule reads the definition files of a module in lexical order.
func readModule(ctx context.Context, m Module, lim Limits) ([]moduleFile, error) {
	dir := m.Dir
	if dir == "" {
		dir = "."
	}
	if !fs.ValidPath(dir) {
		return nil, fmt.Errorf("definition directory %q is not a valid path inside the module root", dir)
	}
	if _, err := fs.Stat(m.FS, dir); err != nil {
		if m.Optional && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("definition directory %s: %w", displayName(m, dir), err)
	}
	var files []moduleFile
	var total int64
	err := fs.WalkDir(m.FS, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && (d.Name() == "cue.mod" || strings.HasPrefix(d.Name(), ".")) {
				return fs.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".cue") || strings.HasSuffix(p, "_test.cue") {
			return nil
		}
		if len(files) >= lim.MaxFiles {
			return fmt.Errorf("definition module %s has more than %d .cue files", displayName(m, dir), lim.MaxFiles)
		}
		src, err := readLimited(m.FS, p, lim.MaxFileBytes)
		if err != nil {
			return fmt.Errorf("definition %s: %w", displayName(m, p), err)
		}
		total += int64(len(src))
		if total > lim.MaxTotalBytes {
			return fmt.Errorf("definition module %s is larger than %d bytes", displayName(m, dir), lim.MaxTotalBytes)
		}
		files = append(files, moduleFile{name: displayName(m, p), src: src})
		return nil
	})
	return files, err
}

func displayName(m Module, p string) string {
	if m.Name == "" {
		return p
	}
	return path.Join(m.Name, p)
}

// readLimited reads a file, refusing one larger than max bytes.
func readLimited(fsys fs.FS, name string, max int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("file is larger than %d bytes", max)
	}
	return data, nil
}
