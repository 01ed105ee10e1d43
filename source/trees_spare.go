package source

import (
	"context"
	"path/filepath"
)

// Prepare copies the newest tree of ref's repository (its directories,
// and hard links to its files) for the next Fetch that downloads a new
// commit of the repository to patch. Without it, that Fetch copies the
// tree while it waits for the server, which on a fast network is most of
// its time: a Poller's owner calls Prepare while the poller is idle, so
// the copy is made off the path from a commit to its snapshot.
//
// Prepare returns once the copy is complete. It does nothing when a copy
// of the newest tree is ready, when the repository has no tree yet, or
// for a file:// repository, whose trees are written whole. The copy is
// removed when ctx ends before it is complete, and replaced by the next
// Prepare once a newer tree exists.
func (f *Fetcher) Prepare(ctx context.Context, ref Ref) error {
	u, err := parseRepoURL(ref.URL, f.opts.AllowFile)
	if err != nil || u.Scheme == "file" {
		return err
	}
	key := cacheKey(u)
	unlock, err := f.lock(ctx, key)
	if err != nil {
		return err
	}
	name, _ := latestTree(f.treesDir(key))
	f.mu.Lock()
	old := f.spares[key]
	if old != nil && old.from.String() == name {
		f.mu.Unlock()
		unlock()
		return nil
	}
	delete(f.spares, key)
	f.mu.Unlock()
	old.discard()
	tc := f.startCopy(ctx, key, filepath.Join(f.opts.CacheDir, "repos", key))
	if tc != nil {
		f.mu.Lock()
		f.spares[key] = tc
		f.mu.Unlock()
	}
	unlock()
	if tc == nil {
		return nil
	}
	<-tc.done // the copy stops soon after ctx ends
	err = tc.err
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		f.sparesMade.Add(1)
		return nil
	}
	f.mu.Lock()
	mine := f.spares[key] == tc
	if mine {
		delete(f.spares, key)
	}
	f.mu.Unlock()
	if mine {
		tc.discard()
	}
	return err
}

// takeSpare returns the copy Prepare made of key's newest tree, complete
// or under way, and forgets it; nil when there is none.
func (f *Fetcher) takeSpare(key string) *treeCopy {
	f.mu.Lock()
	defer f.mu.Unlock()
	tc := f.spares[key]
	delete(f.spares, key)
	return tc
}

// isSpare reports whether dir is the directory of a copy Prepare made.
func (f *Fetcher) isSpare(dir string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, tc := range f.spares {
		if tc.tmp == dir {
			return true
		}
	}
	return false
}
