package source

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Relation says how a new head relates to the one before it.
type Relation string

// The relations Compare reports.
const (
	// RelationSame: both are the same commit.
	RelationSame Relation = "same"
	// RelationFastForward: the old head is an ancestor of the new one.
	RelationFastForward Relation = "fast-forward"
	// RelationRewritten: the old head is not an ancestor of the new one;
	// the ref was force-pushed, to older or to different history.
	RelationRewritten Relation = "rewritten"
	// RelationUnknown: the history needed to decide could not be read.
	RelationUnknown Relation = "unknown"
)

const (
	// historySlack widens the history fetched to decide a Relation, for
	// commits whose committer clocks run behind the previous head's.
	historySlack = time.Hour
	// maxHistoryWalk bounds the commits walked to decide a Relation.
	maxHistoryWalk = 20_000
)

// Compare reports how next relates to prev, two Snapshots of the same Ref.
// The cache holds only shallow history, so Compare fetches the commits
// made since prev (by deepen-since, less an hour of slack for skewed
// clocks) when the cache cannot tell. That costs one more round trip on a
// head change, never on a poll that changes nothing.
func (f *Fetcher) Compare(ctx context.Context, ref Ref, prev, next *Snapshot) (Relation, error) {
	if prev == nil || next == nil {
		return RelationUnknown, nil
	}
	if prev.Commit == next.Commit {
		return RelationSame, nil
	}
	from, ok1 := parseCommit(next.Commit)
	to, ok2 := parseCommit(prev.Commit)
	if !ok1 || !ok2 {
		return RelationUnknown, errors.New("snapshot commit ids are not valid")
	}
	u, err := parseRepoURL(ref.URL, f.opts.AllowFile)
	if err != nil {
		return RelationUnknown, err
	}
	if u.Scheme == "file" {
		repo, err := git.PlainOpen(u.Path)
		if err != nil {
			return RelationUnknown, fmt.Errorf("local repository %s: %w", u.Path, err)
		}
		found, _ := reaches(ctx, repo.Storer, from, to)
		return relation(found), nil
	}
	rel, err := f.compareRemote(ctx, ref, u, from, to, prev.Time)
	if err != nil {
		return RelationUnknown, fmt.Errorf("source %s: compare %s..%s: %w", ref, prev.Commit, next.Commit, err)
	}
	return rel, nil
}

func relation(found bool) Relation {
	if found {
		return RelationFastForward
	}
	return RelationRewritten
}

func parseCommit(s string) (plumbing.Hash, bool) {
	if !isHex(s, 40) {
		return plumbing.ZeroHash, false
	}
	return plumbing.NewHash(s), true
}

func (f *Fetcher) compareRemote(ctx context.Context, ref Ref, u repoURL, from, to plumbing.Hash, since time.Time) (Relation, error) {
	key := cacheKey(u)
	unlock, err := f.lock(ctx, key)
	if err != nil {
		return RelationUnknown, err
	}
	defer unlock()
	c, err := openCache(filepath.Join(f.opts.CacheDir, "repos", key))
	if err != nil {
		return RelationUnknown, err
	}
	defer c.close()
	if found, complete := reaches(ctx, c.st, from, to); found || complete {
		return relation(found), nil
	}
	cred, err := ref.Auth.load()
	if err != nil {
		return RelationUnknown, err
	}
	sess, err := f.session(ctx, u, cred)
	if err != nil {
		return RelationUnknown, remoteError(err, cred.secrets())
	}
	defer func() { _ = sess.Close() }()
	f.lsRemotes.Add(1)
	adv, err := lsRemote(ctx, sess, cred.secrets())
	if err != nil {
		return RelationUnknown, err
	}
	if !adv.supports(capability.DeepenSince) {
		return RelationUnknown, nil
	}
	f.downloads.Add(1)
	err = c.fetch(ctx, sess, adv, fetchOptions{
		want: from, depth: packp.DepthSince(since.Add(-historySlack)),
		maxBytes: f.opts.Limits.MaxBytes, secrets: cred.secrets(),
	})
	if err != nil {
		return RelationUnknown, err
	}
	found, _ := reaches(ctx, c.st, from, to)
	return relation(found), nil
}

// reaches walks the parents of from looking for to. complete is true when
// the walk saw the whole history that from has, so a miss is definite.
func reaches(ctx context.Context, st storer.EncodedObjectStorer, from, to plumbing.Hash) (found, complete bool) {
	seen := map[plumbing.Hash]bool{from: true}
	queue := []plumbing.Hash{from}
	complete = true
	for len(queue) > 0 {
		if len(seen) > maxHistoryWalk || ctx.Err() != nil {
			return false, false
		}
		h := queue[0]
		queue = queue[1:]
		if h == to {
			return true, true
		}
		c, err := object.GetCommit(st, h)
		if err != nil {
			complete = false // a shallow boundary, or a missing object
			continue
		}
		for _, p := range c.ParentHashes {
			if !seen[p] {
				seen[p] = true
				queue = append(queue, p)
			}
		}
	}
	return false, complete
}
