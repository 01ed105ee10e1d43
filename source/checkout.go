package source

import (
	"context"
	"crypto/sha1"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"golang.org/x/sys/unix"
)

const (
	// maxTreeDepth bounds directory nesting in a snapshot.
	maxTreeDepth = 256
	// maxSymlinkTarget bounds the target of a symlink.
	maxSymlinkTarget = 4096
)

// treeStats counts what a snapshot holds.
type treeStats struct {
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
}

// checkout writes the tree of one commit to a directory, within limits.
type checkout struct {
	ctx   context.Context
	st    storer.EncodedObjectStorer
	lim   Limits
	stats treeStats
	buf   []byte
	hash  hash.Hash
	hdr   []byte
	dirs  []string
	links *linker
	// pack, when not nil, holds the blobs of the tree: files are
	// collected, then written in one walk over its delta chains.
	pack *packCheckout
}

// rawFile is a file written through plain system calls. os.OpenFile
// tries to register every file with the network poller, which costs five
// system calls on top of the three a small file needs (open, write,
// close), and a first fetch creates tens of thousands of files.
type rawFile int

// createFile creates p, which must not exist, for writing.
func createFile(p string, perm os.FileMode) (rawFile, error) {
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return rawFile(fd), nil
}

func (f rawFile) Write(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Write(int(f), b[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}

func (f rawFile) Close() error { return unix.Close(int(f)) }

// baseTree is an earlier, complete snapshot tree whose unchanged files a
// new tree hard-links instead of writing again. same says that dir holds
// exactly the tree being written (their hashes are equal), so tree is not
// decoded and every entry is linked.
type baseTree struct {
	tree *object.Tree
	dir  string
	same bool
}

// materialize writes the tree of commit into dst, which must not exist.
// Files are read-only; directories below dst become read-only once
// complete (dst itself is left writable so the caller can rename it).
// Files that base holds unchanged are hard-linked from it. The other
// files are read from pack, when given, or else through st.
func materialize(ctx context.Context, st storer.EncodedObjectStorer, commit *object.Commit, dst string, lim Limits, base *baseTree, pack *mappedPack) (treeStats, error) {
	tree, err := object.GetTree(st, commit.TreeHash)
	if err != nil {
		return treeStats{}, &cacheError{fmt.Errorf("tree %s: %w", commit.TreeHash, err)}
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return treeStats{}, err
	}
	c := &checkout{ctx: ctx, st: st, lim: lim, buf: make([]byte, 64<<10), hash: sha1.New(), links: newLinker()}
	if pack != nil {
		c.pack = newPackCheckout(pack.packObjects)
	}
	if base == nil {
		base = &baseTree{}
	}
	if base.tree != nil && base.tree.Hash == tree.Hash {
		base = &baseTree{dir: base.dir, same: true}
	}
	err = c.writeTree(tree, dst, 0, *base)
	linked, failed := c.links.wait()
	if err != nil {
		return c.stats, err
	}
	c.stats.Bytes += linked
	if c.lim.MaxBytes > 0 && c.stats.Bytes > c.lim.MaxBytes {
		return c.stats, &LimitError{Limit: LimitBytes, Max: c.lim.MaxBytes}
	}
	if err := c.writeUnlinked(failed); err != nil {
		return c.stats, err
	}
	if err := c.pack.write(ctx); err != nil {
		return c.stats, err
	}
	for _, d := range slices.Backward(c.dirs) {
		if err := os.Chmod(d, 0o555); err != nil {
			return c.stats, err
		}
	}
	return c.stats, nil
}

// writeUnlinked writes the files the linker could not link. They were
// counted already; only their bytes are added.
func (c *checkout) writeUnlinked(failed []linkJob) error {
	for _, job := range failed {
		for _, e := range job.entries {
			c.stats.Files--
			if err := c.writeEntry(e, filepath.Join(job.to, e.Name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// entries indexes the entries of a base tree by name.
func (b baseTree) entries() map[string]object.TreeEntry {
	if b.tree == nil {
		return nil
	}
	m := make(map[string]object.TreeEntry, len(b.tree.Entries))
	for _, e := range b.tree.Entries {
		m[e.Name] = e
	}
	return m
}

func (c *checkout) writeTree(t *object.Tree, dir string, depth int, base baseTree) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("tree is nested deeper than %d directories", maxTreeDepth)
	}
	old := base.entries()
	same := linkJob{from: base.dir, to: dir}
	for _, e := range t.Entries {
		if err := checkEntryName(e.Name); err != nil {
			return err
		}
		be, inBase := old[e.Name]
		if base.same {
			be, inBase = e, true
		}
		if inBase && be.Hash == e.Hash && be.Mode == e.Mode && e.Mode != filemode.Dir && e.Mode != filemode.Submodule {
			// Linked later, by the linker; its bytes are added then.
			same.entries = append(same.entries, e)
			if err := c.count(0); err != nil {
				return err
			}
			continue
		}
		var err error
		if e.Mode == filemode.Dir {
			sub := baseTree{}
			switch {
			case !inBase || be.Mode != filemode.Dir:
			case be.Hash == e.Hash:
				// An unchanged directory: no need to decode it twice.
				sub = baseTree{dir: filepath.Join(base.dir, e.Name), same: true}
			default:
				if bt, err := object.GetTree(c.st, be.Hash); err == nil {
					sub = baseTree{tree: bt, dir: filepath.Join(base.dir, e.Name)}
				}
			}
			err = c.writeDir(e, filepath.Join(dir, e.Name), depth, sub)
		} else {
			err = c.writeEntry(e, filepath.Join(dir, e.Name))
		}
		if err != nil {
			return err
		}
	}
	c.links.add(same)
	return nil
}

// writeEntry writes one non-directory entry from its blob.
func (c *checkout) writeEntry(e object.TreeEntry, p string) error {
	switch e.Mode {
	case filemode.Regular, filemode.Deprecated:
		return c.writeFile(e, p, 0o444)
	case filemode.Executable:
		return c.writeFile(e, p, 0o555)
	case filemode.Symlink:
		return c.writeLink(e, p)
	case filemode.Submodule:
		// Submodules are not fetched; their path stays absent.
		return nil
	}
	return fmt.Errorf("tree entry %q has unsupported mode %s", e.Name, e.Mode)
}

// checkEntryName refuses names a hostile server could use to write
// outside the directory or into git metadata.
func checkEntryName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") || strings.EqualFold(name, ".git") {
		return fmt.Errorf("tree entry %q is not a safe file name", name)
	}
	return nil
}

func (c *checkout) writeDir(e object.TreeEntry, p string, depth int, base baseTree) error {
	sub, err := object.GetTree(c.st, e.Hash)
	if err != nil {
		return &cacheError{fmt.Errorf("tree %s: %w", e.Hash, err)}
	}
	if err := os.Mkdir(p, 0o755); err != nil {
		return err
	}
	c.dirs = append(c.dirs, p)
	return c.writeTree(sub, p, depth+1, base)
}

// count adds one file of size bytes and checks the limits and the context.
func (c *checkout) count(size int64) error {
	c.stats.Files++
	c.stats.Bytes += size
	if c.lim.MaxFiles > 0 && c.stats.Files > c.lim.MaxFiles {
		return &LimitError{Limit: LimitFiles, Max: int64(c.lim.MaxFiles)}
	}
	if c.lim.MaxBytes > 0 && c.stats.Bytes > c.lim.MaxBytes {
		return &LimitError{Limit: LimitBytes, Max: c.lim.MaxBytes}
	}
	if c.stats.Files%256 == 0 {
		return c.ctx.Err()
	}
	return nil
}

func (c *checkout) blob(h plumbing.Hash) (plumbing.EncodedObject, error) {
	obj, err := c.st.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return nil, &cacheError{fmt.Errorf("blob %s: %w", h, err)}
	}
	return obj, nil
}

func (c *checkout) writeFile(e object.TreeEntry, p string, perm os.FileMode) error {
	if size, ok := c.pack.size(e.Hash); ok {
		if err := c.count(size); err != nil {
			return err
		}
		c.pack.add(e.Hash, pendingFile{path: p, perm: perm})
		return nil
	}
	obj, err := c.blob(e.Hash)
	if err != nil {
		return err
	}
	if err := c.count(obj.Size()); err != nil {
		return err
	}
	r, err := obj.Reader()
	if err != nil {
		return &cacheError{fmt.Errorf("blob %s: %w", e.Hash, err)}
	}
	defer r.Close()
	f, err := createFile(p, perm)
	if err != nil {
		return err
	}
	// Hashing while writing catches a cache corrupted at rest, which
	// would otherwise hand out wrong content. Plain SHA-1 suffices: the
	// pack was checked for collisions when it was indexed.
	h := c.hash
	h.Reset()
	c.hdr = append(strconv.AppendInt(append(c.hdr[:0], "blob "...), obj.Size(), 10), 0)
	h.Write(c.hdr)
	n, err := io.CopyBuffer(io.MultiWriter(f, h), io.LimitReader(r, obj.Size()), c.buf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &cacheError{fmt.Errorf("blob %s: %w", e.Hash, err)}
	}
	if n != obj.Size() || plumbing.Hash(h.Sum(nil)) != e.Hash {
		return &cacheError{fmt.Errorf("blob %s is corrupt", e.Hash)}
	}
	return nil
}

func (c *checkout) writeLink(e object.TreeEntry, p string) error {
	if size, ok := c.pack.size(e.Hash); ok {
		if size > maxSymlinkTarget {
			return fmt.Errorf("symlink %q has a target longer than %d bytes", e.Name, maxSymlinkTarget)
		}
		if err := c.count(size); err != nil {
			return err
		}
		c.pack.add(e.Hash, pendingFile{path: p, symlink: true})
		return nil
	}
	obj, err := c.blob(e.Hash)
	if err != nil {
		return err
	}
	if obj.Size() > maxSymlinkTarget {
		return fmt.Errorf("symlink %q has a target longer than %d bytes", e.Name, maxSymlinkTarget)
	}
	if err := c.count(obj.Size()); err != nil {
		return err
	}
	r, err := obj.Reader()
	if err != nil {
		return &cacheError{err}
	}
	defer r.Close()
	target, err := io.ReadAll(io.LimitReader(r, maxSymlinkTarget))
	if err != nil {
		return &cacheError{err}
	}
	return symlink(target, p)
}

// symlink makes a symlink at p to target, which must be a valid one. The
// link is kept as written; the snapshot's file system refuses to follow
// it out of the root when it is read.
func symlink(target []byte, p string) error {
	if len(target) == 0 || slices.Contains(target, 0) {
		return fmt.Errorf("symlink %q has an invalid target", filepath.Base(p))
	}
	return os.Symlink(string(target), p)
}
