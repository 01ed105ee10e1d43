package source

import (
	"context"
	"crypto/sha1"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// patchCopy turns tc, a complete tree of commit tc.from, into the tree of
// commit: it reads and changes only the directories whose hashes differ,
// and writes the files that changed from their blobs. The limits apply to
// the result.
func patchCopy(ctx context.Context, st storer.EncodedObjectStorer, tc *treeCopy, commit *object.Commit, lim Limits) (treeStats, error) {
	from, err := object.GetCommit(st, tc.from)
	if err != nil {
		return treeStats{}, errNoCopy
	}
	old, err := object.GetTree(st, from.TreeHash)
	if err != nil {
		return treeStats{}, errNoCopy
	}
	tree, err := object.GetTree(st, commit.TreeHash)
	if err != nil {
		return treeStats{}, &cacheError{fmt.Errorf("tree %s: %w", commit.TreeHash, err)}
	}
	// Written files count against the limits as they come, so a huge
	// addition stops early; removals are taken off at the end.
	c := &checkout{ctx: ctx, st: st, lim: lim, buf: make([]byte, 64<<10), hash: sha1.New(), links: newLinker()}
	var removed treeStats
	err = c.patchTree(old, tree, tc.dir, 0, &removed)
	c.links.wait() // nothing is linked: new directories are written whole
	if err != nil {
		return treeStats{}, err
	}
	stats := treeStats{
		Files: tc.stats.Files - removed.Files + c.stats.Files,
		Bytes: tc.stats.Bytes - removed.Bytes + c.stats.Bytes,
	}
	switch {
	case lim.MaxFiles > 0 && stats.Files > lim.MaxFiles:
		return stats, &LimitError{Limit: LimitFiles, Max: int64(lim.MaxFiles)}
	case lim.MaxBytes > 0 && stats.Bytes > lim.MaxBytes:
		return stats, &LimitError{Limit: LimitBytes, Max: lim.MaxBytes}
	}
	for _, d := range c.dirs {
		if err := os.Chmod(d, 0o555); err != nil {
			return stats, err
		}
	}
	return stats, nil
}

// patchTree changes dir, which holds tree old, to hold tree t.
func (c *checkout) patchTree(old, t *object.Tree, dir string, depth int, removed *treeStats) error {
	if old.Hash == t.Hash {
		return nil
	}
	if depth > maxTreeDepth {
		return fmt.Errorf("tree is nested deeper than %d directories", maxTreeDepth)
	}
	if depth > 0 {
		// Writable while it changes; read-only again at the end.
		if err := os.Chmod(dir, 0o755); err != nil {
			return err
		}
		c.dirs = append(c.dirs, dir)
	}
	gone := make(map[string]object.TreeEntry, len(old.Entries))
	for _, e := range old.Entries {
		gone[e.Name] = e
	}
	for _, e := range t.Entries {
		if err := checkEntryName(e.Name); err != nil {
			return err
		}
		o, inOld := gone[e.Name]
		delete(gone, e.Name)
		p := filepath.Join(dir, e.Name)
		switch {
		case inOld && o.Hash == e.Hash && o.Mode == e.Mode:
			continue
		case inOld && o.Mode == filemode.Dir && e.Mode == filemode.Dir:
			if err := c.patchDir(o, e, p, depth, removed); err != nil {
				return err
			}
			continue
		case inOld:
			if err := removeEntry(o, p, removed); err != nil {
				return err
			}
		}
		var err error
		if e.Mode == filemode.Dir {
			err = c.writeDir(e, p, depth, baseTree{})
		} else {
			err = c.writeEntry(e, p)
		}
		if err != nil {
			return err
		}
	}
	for name, o := range gone {
		if err := removeEntry(o, filepath.Join(dir, name), removed); err != nil {
			return err
		}
	}
	return nil
}

func (c *checkout) patchDir(o, e object.TreeEntry, p string, depth int, removed *treeStats) error {
	ot, err := object.GetTree(c.st, o.Hash)
	if err != nil {
		return &cacheError{fmt.Errorf("tree %s: %w", o.Hash, err)}
	}
	nt, err := object.GetTree(c.st, e.Hash)
	if err != nil {
		return &cacheError{fmt.Errorf("tree %s: %w", e.Hash, err)}
	}
	return c.patchTree(ot, nt, p, depth+1, removed)
}

// removeEntry removes the copy's file, symlink or directory p, entry o of
// the old tree, and adds what it held to removed.
func removeEntry(o object.TreeEntry, p string, removed *treeStats) error {
	switch o.Mode {
	case filemode.Submodule:
		// Never written.
		return nil
	case filemode.Dir:
		err := filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return os.Chmod(q, 0o755)
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			removed.Files++
			removed.Bytes += info.Size()
			return nil
		})
		if err != nil {
			return err
		}
		return os.RemoveAll(p)
	}
	info, err := os.Lstat(p)
	if err != nil {
		return err
	}
	removed.Files++
	removed.Bytes += info.Size()
	return os.Remove(p)
}
