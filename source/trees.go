package source

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// maxMessageBytes bounds the commit message kept with a snapshot.
const maxMessageBytes = 64 << 10

func (f *Fetcher) treesDir(key string) string {
	return filepath.Join(f.opts.CacheDir, "trees", key)
}

// known returns the on-disk tree of commit sha of repository key, and
// marks it used, or "" and nil when there is none.
func (f *Fetcher) known(key, sha string) (string, *treeMeta) {
	if !isHex(sha, 40) {
		return "", nil
	}
	dir := filepath.Join(f.treesDir(key), sha)
	now := time.Now()
	// The metadata is written after the tree is complete, so touching it
	// both checks that the tree is whole and records its use.
	if err := os.Chtimes(dir+".json", now, now); err != nil {
		f.forget(dir)
		return "", nil
	}
	if _, err := os.Stat(dir); err != nil {
		f.forget(dir)
		return "", nil
	}
	f.mu.Lock()
	m := f.trees[dir]
	f.mu.Unlock()
	if m != nil {
		return dir, m
	}
	m, err := readMeta(dir + ".json")
	if err != nil || m.Commit != sha {
		return "", nil
	}
	f.mu.Lock()
	f.trees[dir] = m
	f.mu.Unlock()
	return dir, m
}

func (f *Fetcher) forget(dir string) {
	f.mu.Lock()
	delete(f.trees, dir)
	f.mu.Unlock()
}

func readMeta(path string) (*treeMeta, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	b, err := io.ReadAll(io.LimitReader(file, 2*maxMessageBytes))
	if err != nil {
		return nil, err
	}
	var m treeMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// writeTree materializes commit as the tree of repository key, by
// patching pre, a finished copy of an earlier tree, when there is one, then
// removes trees that are neither recent nor recently used. writeTree
// removes pre's directory. pack, when not nil, is the pack just stored,
// which the files of a tree written whole are read from.
func (f *Fetcher) writeTree(ctx context.Context, key string, st storer.EncodedObjectStorer, commit *object.Commit, pre *treeCopy, pack *mappedPack) (string, *treeMeta, error) {
	parent := f.treesDir(key)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", nil, err
	}
	final := filepath.Join(parent, commit.Hash.String())
	var tmp string
	var stats treeStats
	var err error
	if pre != nil {
		defer func(dir string) { _ = removeAll(dir) }(pre.tmp)
		stats, err = patchCopy(ctx, st, pre, commit, f.opts.Limits)
		switch {
		case errors.Is(err, errNoCopy):
			pre = nil
		case err != nil:
			return "", nil, err
		default:
			tmp = pre.tmp
			f.patches.Add(1)
		}
	}
	if pre == nil {
		if tmp, err = os.MkdirTemp(parent, ".tmp-"); err != nil {
			return "", nil, err
		}
		defer func(dir string) { _ = removeAll(dir) }(tmp)
		stats, err = materialize(ctx, st, commit, filepath.Join(tmp, "tree"), f.opts.Limits, f.baseTree(parent, st), pack)
		if err != nil {
			return "", nil, err
		}
	}
	f.checkouts.Add(1)
	if err := os.Rename(filepath.Join(tmp, "tree"), final); err != nil {
		// Another process may have written the same commit first.
		if _, serr := os.Stat(final); serr != nil {
			return "", nil, err
		}
	}
	if err := os.Chmod(final, 0o555); err != nil {
		return "", nil, err
	}
	msg := commit.Message
	if len(msg) > maxMessageBytes {
		msg = msg[:maxMessageBytes]
	}
	m := &treeMeta{Commit: commit.Hash.String(), Time: commit.Committer.When.UTC(), Message: msg, treeStats: stats}
	if err := writeMeta(parent, final+".json", m); err != nil {
		return "", nil, err
	}
	f.mu.Lock()
	f.trees[final] = m
	f.mu.Unlock()
	f.prune(parent, final)
	return final, m, nil
}

// baseTree returns the most recently used complete tree in parent whose
// commit the storage still holds, to hard-link unchanged files from; nil
// when there is none.
func (f *Fetcher) baseTree(parent string, st storer.EncodedObjectStorer) *baseTree {
	best, dir := latestTree(parent)
	if best == "" {
		return nil
	}
	commit, err := object.GetCommit(st, plumbing.NewHash(best))
	if err != nil {
		return nil
	}
	tree, err := object.GetTree(st, commit.TreeHash)
	if err != nil {
		return nil
	}
	return &baseTree{tree: tree, dir: dir}
}

func writeMeta(parent, path string, m *treeMeta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(parent, ".tmp-meta-")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}

// prune removes the trees in parent beyond the KeepSnapshots most
// recently used that were not used within SnapshotTTL, never keep, and
// leftovers of interrupted writes.
func (f *Fetcher) prune(parent, keep string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	type used struct {
		dir  string
		when time.Time
	}
	var trees []used
	now := time.Now()
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue
		}
		name := e.Name()
		switch {
		case strings.HasPrefix(name, ".tmp-"):
			if now.Sub(info.ModTime()) > time.Hour && !f.isSpare(filepath.Join(parent, name)) {
				_ = removeAll(filepath.Join(parent, name))
			}
		case strings.HasSuffix(name, ".json"):
			trees = append(trees, used{filepath.Join(parent, strings.TrimSuffix(name, ".json")), info.ModTime()})
		}
	}
	slices.SortFunc(trees, func(a, b used) int { return b.when.Compare(a.when) })
	for i, t := range trees {
		if i < f.opts.KeepSnapshots || now.Sub(t.when) < f.opts.SnapshotTTL || t.dir == keep {
			continue
		}
		_ = os.Remove(t.dir + ".json")
		f.forget(t.dir)
		_ = removeAll(t.dir)
	}
}
