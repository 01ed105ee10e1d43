package source

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"
)

// DirFS returns a read-only fs.FS over dir that never leaves it: paths
// with ".." are invalid, symlinks are followed only while they stay inside
// dir (reading one that leaves fails with ErrOutsideRoot), and opening a
// FIFO, device or socket fails at once with ErrNotRegular instead of
// blocking. A process that reads a Snapshot's Dir should read it through
// DirFS too.
//
// The result implements fs.StatFS, fs.ReadFileFS and fs.ReadDirFS.
func DirFS(dir string) fs.FS { return rootFS{dir: dir} }

type rootFS struct{ dir string }

var (
	_ fs.StatFS     = rootFS{}
	_ fs.ReadFileFS = rootFS{}
	_ fs.ReadDirFS  = rootFS{}
)

// pathErr wraps an error of os.Root, marking escapes with ErrOutsideRoot.
// The os package keeps its escape error private, so it is known by text.
func pathErr(op, name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if strings.Contains(err.Error(), "escapes") {
		err = ErrOutsideRoot
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

func (r rootFS) root(op, name string) (*os.Root, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	root, err := os.OpenRoot(r.dir)
	if err != nil {
		return nil, pathErr(op, name, err)
	}
	return root, nil
}

// Open opens name for reading. O_NONBLOCK keeps the open of a FIFO from
// waiting for a writer; the file type is then checked on the open file,
// so a swap between check and use cannot slip a FIFO through.
func (r rootFS) Open(name string) (fs.File, error) {
	root, err := r.root("open", name)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, pathErr("open", name, err)
	}
	if !fi.Mode().IsRegular() && !fi.IsDir() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: ErrNotRegular}
	}
	return f, nil
}

// Stat follows symlinks inside the root.
func (r rootFS) Stat(name string) (fs.FileInfo, error) {
	root, err := r.root("stat", name)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	fi, err := root.Stat(name)
	if err != nil {
		return nil, pathErr("stat", name, err)
	}
	return fi, nil
}

// ReadFile reads a regular file whole.
func (r rootFS) ReadFile(name string) ([]byte, error) {
	f, err := r.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	b := make([]byte, 0, fi.Size()+1)
	for {
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		if len(b) == cap(b) {
			b = slices.Grow(b, 4096)
		}
	}
}

// ReadDir lists a directory sorted by name. Entries keep their own type:
// a symlink is listed as a symlink.
func (r rootFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := r.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d, ok := f.(fs.ReadDirFile)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	list, err := d.ReadDir(-1)
	slices.SortFunc(list, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return list, err
}
