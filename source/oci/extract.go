package oci

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/carina-gitops/carina/source"
)

type stats struct {
	files int
	bytes int64
}

// extract writes the gzip tarball r into dst (which must not exist)
// within lim: regular files and directories only, no path leaving dst.
// Files end 0444 and directories below dst 0555.
func extract(ctx context.Context, r io.Reader, dst string, lim source.Limits) (stats, error) {
	var st stats
	zr, err := gzip.NewReader(r)
	if err != nil {
		return st, fmt.Errorf("not a gzip tarball: %w", err)
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return st, err
	}
	tr := tar.NewReader(zr)
	dirs := map[string]bool{}
	entries := 0
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, fmt.Errorf("bad tarball: %w", err)
		}
		if entries++; entries > 2*lim.MaxFiles+16 {
			return st, &source.LimitError{Limit: source.LimitFiles, Max: int64(lim.MaxFiles)}
		}
		name, err := cleanName(h.Name)
		if err != nil {
			return st, err
		}
		if name == "" {
			continue
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := mkdirs(dst, name, dirs); err != nil {
				return st, err
			}
		case tar.TypeReg:
			if st.files++; st.files > lim.MaxFiles {
				return st, &source.LimitError{Limit: source.LimitFiles, Max: int64(lim.MaxFiles)}
			}
			if st.bytes += h.Size; h.Size < 0 || st.bytes > lim.MaxBytes {
				return st, &source.LimitError{Limit: source.LimitBytes, Max: lim.MaxBytes}
			}
			if err := mkdirs(dst, path.Dir(name), dirs); err != nil {
				return st, err
			}
			if err := writeFile(filepath.Join(dst, filepath.FromSlash(name)), tr, h.Size); err != nil {
				return st, fmt.Errorf("%s: %w", name, err)
			}
		case tar.TypeXGlobalHeader, tar.TypeXHeader:
		default:
			return st, fmt.Errorf("%w: tarball entry %s is not a regular file or directory", source.ErrNotRegular, name)
		}
	}
	return st, seal(dst, dirs)
}

// cleanName refuses absolute paths and "..", and strips "./".
func cleanName(n string) (string, error) {
	n = strings.TrimPrefix(n, "./")
	n = strings.TrimSuffix(n, "/")
	if n == "" || n == "." {
		return "", nil
	}
	if strings.HasPrefix(n, "/") || strings.Contains(n, "\\") || !fs.ValidPath(n) {
		return "", fmt.Errorf("%w: tarball entry %q", source.ErrOutsideRoot, n)
	}
	return n, nil
}

func mkdirs(dst, name string, dirs map[string]bool) error {
	if name == "." || dirs[name] {
		return nil
	}
	if err := mkdirs(dst, path.Dir(name), dirs); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(dst, filepath.FromSlash(name)), 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	dirs[name] = true
	return nil
}

func writeFile(p string, r io.Reader, size int64) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, r, size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// seal makes the directories read-only, deepest first.
func seal(dst string, dirs map[string]bool) error {
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		names = append(names, d)
	}
	slices.SortFunc(names, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, d := range names {
		if err := os.Chmod(filepath.Join(dst, filepath.FromSlash(d)), 0o555); err != nil {
			return err
		}
	}
	return nil
}

// removeAll removes a tree whose directories may be read-only.
func removeAll(dir string) error {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
