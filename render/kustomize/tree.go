package kustomize

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// memRepo is where the repository's files live in the in-memory file
// system; the generated overlay lives beside it, never inside it.
const (
	memRepo    = "/repo"
	memOverlay = "/overlay"
)

// maxSymlinkDepth bounds how many symlinked directories may nest, so that a
// symlink loop ends in an error instead of an endless copy.
const maxSymlinkDepth = 8

// tree copies parts of the repository into an in-memory file system,
// charging every file to the MaxFiles and MaxBytes budget.
type tree struct {
	fsys   fs.FS
	mem    filesys.FileSystem
	o      Options
	files  int
	bytes  int64
	copied []string // repository directories copied whole
}

func newTree(fsys fs.FS, o Options) *tree {
	return &tree{fsys: fsys, mem: filesys.MakeFsInMemory(), o: o}
}

func memPath(p string) string {
	if p == "." {
		return memRepo
	}
	return memRepo + "/" + p
}

// covered says whether dir was copied as part of an earlier directory.
func (t *tree) covered(dir string) bool {
	for _, c := range t.copied {
		if c == "." || dir == c || strings.HasPrefix(dir, c+"/") {
			return true
		}
	}
	return false
}

// copyDir copies dir and everything under it, unless that is done.
func (t *tree) copyDir(dir string) error {
	if t.covered(dir) {
		return nil
	}
	if err := t.walk(dir, dir, 0); err != nil {
		return err
	}
	t.copied = append(t.copied, dir)
	return nil
}

// walk copies the tree at src (a path in fsys) to dst (a repository path:
// they differ under a symlinked directory).
func (t *tree) walk(src, dst string, depth int) error {
	return fs.WalkDir(t.fsys, src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, src), "/")
		target := path.Join(dst, rel)
		switch {
		case d.IsDir() && d.Name() == ".git" && p != src:
			return fs.SkipDir // never kustomize input, and can be huge
		case d.IsDir():
			return t.mem.MkdirAll(memPath(target))
		case d.Type()&fs.ModeSymlink != 0:
			info, err := fs.Stat(t.fsys, p)
			if err != nil {
				return fmt.Errorf("symlink %s: %w", p, err)
			}
			if !info.IsDir() {
				return t.copyFile(p, target)
			}
			if depth >= maxSymlinkDepth {
				return fmt.Errorf("symlink %s: more than %d nested directory symlinks", p, maxSymlinkDepth)
			}
			return t.walk(p, target, depth+1)
		case d.Type().IsRegular():
			return t.copyFile(p, target)
		default:
			return nil // devices, sockets and pipes are no kustomize input
		}
	})
}

func (t *tree) copyFile(src, dst string) error {
	t.files++
	if t.files > t.o.MaxFiles {
		return fmt.Errorf("kustomization needs more than %d files", t.o.MaxFiles)
	}
	f, err := t.fsys.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	left := t.o.MaxBytes - t.bytes
	data, err := io.ReadAll(io.LimitReader(f, left+1))
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	t.bytes += int64(len(data))
	if t.bytes > t.o.MaxBytes {
		return fmt.Errorf("kustomization needs more than %d bytes of files", t.o.MaxBytes)
	}
	if err := checkAliases(dst, data); err != nil {
		return err
	}
	return t.mem.WriteFile(memPath(dst), data)
}

// kustomizationFile finds the kustomization file of dir in the copy.
func (t *tree) kustomizationFile(dir string) (string, []byte, error) {
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		p := path.Join(dir, name)
		if !t.mem.Exists(memPath(p)) {
			continue
		}
		data, err := t.mem.ReadFile(memPath(p))
		return p, data, err
	}
	return "", nil, fmt.Errorf("%s: no kustomization.yaml, kustomization.yml or Kustomization: %w", dir, fs.ErrNotExist)
}

// stat says what a repository path is: a directory, a file, or nothing.
func (t *tree) stat(p string) (isDir, exists bool, err error) {
	info, err := fs.Stat(t.fsys, p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, false, nil
	case err != nil:
		return false, false, err
	}
	return info.IsDir(), true, nil
}
