package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// errNoCopy says that a copy cannot be patched into the commit to write
// (the storage no longer holds the copied commit); the tree is then
// written whole.
var errNoCopy = errors.New("the tree copy does not apply")

// treeCopy is a copy of the repository's most recent tree, made while
// the next pack downloads: its directories, and hard links to its files.
// Once the new commit is stored, patching the copy (see patchCopy) costs
// the directories that changed, not the whole tree; the copy itself is
// made while the fetch waits for the server.
type treeCopy struct {
	tmp  string // a .tmp- directory in the repository's trees
	dir  string // the copy, tmp/tree
	from plumbing.Hash

	cancel context.CancelFunc
	done   chan struct{}
	stats  treeStats
	err    error
}

// startCopy starts copying the most recent tree of key, read from the
// repository cache in repoDir with a storage of its own (go-git storages
// are not safe for concurrent use, and the fetch writes to the other).
// It returns nil when there is no tree to copy.
func (f *Fetcher) startCopy(ctx context.Context, key, repoDir string) *treeCopy {
	parent := f.treesDir(key)
	name, baseDir := latestTree(parent)
	if name == "" {
		return nil
	}
	tmp, err := os.MkdirTemp(parent, ".tmp-")
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	tc := &treeCopy{tmp: tmp, dir: filepath.Join(tmp, "tree"), from: plumbing.NewHash(name), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(tc.done)
		tc.stats, tc.err = copyTree(ctx, repoDir, tc.from, baseDir, tc.dir, f.opts.Limits)
	}()
	return tc
}

// copyTree writes the tree of commit from into dst, linking every file
// from baseDir, the tree of the same commit.
func copyTree(ctx context.Context, repoDir string, from plumbing.Hash, baseDir, dst string, lim Limits) (treeStats, error) {
	st := filesystem.NewStorageWithOptions(osfs.New(repoDir), cache.NewObjectLRU(objectCacheBytes), filesystem.Options{
		KeepDescriptors:      true,
		LargeObjectThreshold: 1 << 20,
	})
	defer func() { _ = st.Close() }()
	commit, err := object.GetCommit(st, from)
	if err != nil {
		return treeStats{}, err
	}
	tree, err := object.GetTree(st, commit.TreeHash)
	if err != nil {
		return treeStats{}, err
	}
	return materialize(ctx, st, commit, dst, lim, &baseTree{tree: tree, dir: baseDir}, nil)
}

// wait waits for the copy and returns it, or nil when it failed or is
// gone (a copy Prepare made long ago may have been removed by another
// process sharing the cache).
func (tc *treeCopy) wait() *treeCopy {
	if tc == nil {
		return nil
	}
	<-tc.done
	if _, err := os.Lstat(tc.dir); tc.err == nil && err != nil {
		tc.err = err
	}
	if tc.err != nil {
		tc.discard()
		return nil
	}
	return tc
}

// discard stops the copy and removes it.
func (tc *treeCopy) discard() {
	if tc == nil {
		return
	}
	tc.cancel()
	<-tc.done
	_ = removeAll(tc.tmp)
}

// latestTree returns the commit and directory of the most recently used
// complete tree in parent, or "" when there is none.
func latestTree(parent string) (string, string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return "", ""
	}
	var best string
	var bestTime time.Time
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !isHex(name, 40) {
			continue
		}
		if info, err := e.Info(); err == nil && info.ModTime().After(bestTime) {
			if _, err := os.Stat(filepath.Join(parent, name)); err == nil {
				best, bestTime = name, info.ModTime()
			}
		}
	}
	if best == "" {
		return "", ""
	}
	return best, filepath.Join(parent, best)
}
