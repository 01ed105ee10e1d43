package source

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/carina-gitops/carina/internal/egress"
)

// Limits bound one fetch. Crossing one fails the fetch with a *LimitError
// and removes the repository's cache.
type Limits struct {
	// MaxBytes bounds the total size of the files in a snapshot, and what
	// a single fetch may download.
	MaxBytes int64
	// MaxFiles bounds the number of files and symlinks in a snapshot.
	MaxFiles int
	// Time bounds one fetch when the Ref sets no Timeout.
	Time time.Duration
}

// Options configure a Fetcher.
type Options struct {
	// CacheDir holds the repository caches (repos/) and the snapshot
	// trees (trees/). Required; one Fetcher per directory at a time is
	// the intended use, though a file lock keeps two apart.
	CacheDir string
	// AllowFile permits file:// URLs and local paths. Only for local
	// development: it lets a configuration read the agent's own disk.
	AllowFile bool
	// Limits bound every fetch.
	Limits Limits
	// KeepSnapshots is how many of the most recently used snapshot trees
	// of a repository always stay on disk.
	KeepSnapshots int
	// SnapshotTTL keeps any tree that a Fetch returned within this long.
	// Older trees beyond KeepSnapshots are removed after a new tree of the
	// same repository is written.
	SnapshotTTL time.Duration
	// MaxCacheCommits re-clones a repository cache that has fetched more
	// commits than this, which keeps its size near that of one commit.
	MaxCacheCommits int
	// HTTPTransport is the base of the HTTP(S) transport; nil means a
	// clone of http.DefaultTransport. Its dial functions are replaced by
	// Egress's.
	HTTPTransport *http.Transport
	// Egress decides which addresses fetches may connect to, checked at
	// dial time over HTTP(S) and SSH (redirects and DNS rebinding
	// included) and on resolution for git://; nil is egress.Default().
	Egress *egress.Policy
}

// DefaultOptions returns the defaults: 256 MiB and 50,000 files per
// snapshot, two minutes per fetch, 4 snapshots kept plus any used in the
// last hour, and a re-clone after 64 fetched commits. CacheDir is left
// empty.
func DefaultOptions() Options {
	return Options{
		Limits:          Limits{MaxBytes: 256 << 20, MaxFiles: 50_000, Time: 2 * time.Minute},
		KeepSnapshots:   4,
		SnapshotTTL:     time.Hour,
		MaxCacheCommits: 64,
	}
}

// FetcherStats counts what a Fetcher did.
type FetcherStats struct {
	// LsRemotes counts ref advertisements asked of remotes.
	LsRemotes int64
	// Downloads counts pack downloads (fetches that moved objects).
	Downloads int64
	// Checkouts counts snapshot trees written to disk.
	Checkouts int64
	// Repairs counts caches removed because they were corrupt.
	Repairs int64
	// Prepared counts tree copies Prepare made; PreparedUsed, those a
	// download then patched.
	Prepared, PreparedUsed int64
}

// Fetcher turns Refs into Snapshots, with an on-disk cache per repository.
// It is safe for concurrent use.
type Fetcher struct {
	opts Options

	mu          sync.Mutex
	httpClients map[string]transport.Transport
	keyLocks    map[string]chan struct{}
	trees       map[string]*treeMeta
	// spares holds, per repository, a copy of its newest tree that
	// Prepare made for the next download to patch.
	spares map[string]*treeCopy

	lsRemotes, downloads, checkouts, repairs atomic.Int64
	// patches counts trees written by patching a copy of an earlier one.
	patches atomic.Int64
	// ownIndexes counts packs stored with the cache's own index.
	ownIndexes atomic.Int64
	// sparesMade and sparesUsed count the copies Prepare made and the
	// downloads that patched one.
	sparesMade, sparesUsed atomic.Int64
}

// NewFetcher checks opts, filling zero fields from DefaultOptions, and
// creates the cache directory.
func NewFetcher(opts Options) (*Fetcher, error) {
	if opts.CacheDir == "" {
		return nil, errors.New("source fetcher needs a cache directory")
	}
	def := DefaultOptions()
	if opts.Limits.MaxBytes <= 0 {
		opts.Limits.MaxBytes = def.Limits.MaxBytes
	}
	if opts.Limits.MaxFiles <= 0 {
		opts.Limits.MaxFiles = def.Limits.MaxFiles
	}
	if opts.Limits.Time <= 0 {
		opts.Limits.Time = def.Limits.Time
	}
	if opts.KeepSnapshots <= 0 {
		opts.KeepSnapshots = def.KeepSnapshots
	}
	if opts.SnapshotTTL <= 0 {
		opts.SnapshotTTL = def.SnapshotTTL
	}
	if opts.MaxCacheCommits <= 0 {
		opts.MaxCacheCommits = def.MaxCacheCommits
	}
	abs, err := filepath.Abs(opts.CacheDir)
	if err != nil {
		return nil, fmt.Errorf("source cache directory: %w", err)
	}
	opts.CacheDir = abs
	for _, d := range []string{"repos", "trees", "locks"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o755); err != nil {
			return nil, fmt.Errorf("source cache directory: %w", err)
		}
	}
	return &Fetcher{
		opts:        opts,
		httpClients: map[string]transport.Transport{},
		keyLocks:    map[string]chan struct{}{},
		trees:       map[string]*treeMeta{},
		spares:      map[string]*treeCopy{},
	}, nil
}

// Stats returns the counters.
func (f *Fetcher) Stats() FetcherStats {
	return FetcherStats{
		LsRemotes: f.lsRemotes.Load(),
		Downloads: f.downloads.Load(),
		Checkouts: f.checkouts.Load(),
		Repairs:   f.repairs.Load(),

		Prepared:     f.sparesMade.Load(),
		PreparedUsed: f.sparesUsed.Load(),
	}
}

// Fetch returns the Snapshot the Ref names now. It asks the remote for
// the ref's head first and downloads nothing when a tree for that commit
// is already on disk; a commit Ref with its tree on disk needs no network
// at all. Otherwise it makes a depth-1 fetch into the repository's cache,
// repairing a corrupt cache by fetching afresh, and writes the tree.
//
// Errors never hold credentials or URL query strings. They match
// ErrInvalidRef, ErrAuth, ErrHostKey, ErrNotFound or ErrLimit where
// those apply.
func (f *Fetcher) Fetch(ctx context.Context, ref Ref) (*Snapshot, error) {
	s, err := f.fetch(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", ref, err)
	}
	return s, nil
}

func (f *Fetcher) fetch(ctx context.Context, ref Ref) (*Snapshot, error) {
	if err := ref.Validate(f.opts.AllowFile); err != nil {
		return nil, err
	}
	u, err := parseRepoURL(ref.URL, f.opts.AllowFile)
	if err != nil {
		return nil, err
	}
	limit := ref.Timeout
	if limit <= 0 {
		limit = f.opts.Limits.Time
	}
	tctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var s *Snapshot
	if u.Scheme == "file" {
		s, err = f.fetchLocal(tctx, ref, u)
	} else {
		s, err = f.fetchRemote(tctx, ref, u)
	}
	if err != nil && ctx.Err() == nil && errors.Is(tctx.Err(), context.DeadlineExceeded) {
		return nil, &LimitError{Limit: LimitTime, Max: int64(limit)}
	}
	return s, err
}

func (f *Fetcher) fetchRemote(ctx context.Context, ref Ref, u repoURL) (*Snapshot, error) {
	key := cacheKey(u)
	if ref.Kind() == KindCommit {
		if dir, m := f.known(key, ref.Commit); m != nil {
			return newSnapshot(ref, u, target{name: ref.Commit}, dir, m), nil
		}
	}
	cred, err := ref.Auth.load()
	if err != nil {
		return nil, err
	}
	sess, err := f.session(ctx, u, cred)
	if err != nil {
		return nil, remoteError(err, cred.secrets())
	}
	defer func() { _ = sess.Close() }()
	f.lsRemotes.Add(1)
	adv, err := lsRemote(ctx, sess, cred.secrets())
	if err != nil {
		return nil, fmt.Errorf("ls-remote: %w", err)
	}
	t, err := resolve(ref, adv)
	if err != nil {
		return nil, err
	}
	if dir, m := f.known(key, t.commit.String()); m != nil {
		return newSnapshot(ref, u, t, dir, m), nil
	}
	unlock, err := f.lock(ctx, key)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if dir, m := f.known(key, t.commit.String()); m != nil {
		return newSnapshot(ref, u, t, dir, m), nil
	}
	for attempt := 0; ; attempt++ {
		dir, m, err := f.fetchInto(ctx, key, sess, adv, t, cred)
		if err == nil {
			return newSnapshot(ref, u, t, dir, m), nil
		}
		if errors.Is(err, ErrLimit) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// A repository over a limit leaves nothing behind.
			f.wipe(key)
			return nil, err
		}
		if !isCacheError(err) || attempt > 0 {
			return nil, sanitize(err, cred.secrets()...)
		}
		// The cache is corrupt: remove it and fetch again on a new
		// session (an SSH session serves one pack only).
		f.repairs.Add(1)
		f.wipe(key)
		_ = sess.Close()
		if sess, err = f.session(ctx, u, cred); err != nil {
			return nil, remoteError(err, cred.secrets())
		}
	}
}

// fetchInto makes sure the cache of key holds t, then writes its tree.
func (f *Fetcher) fetchInto(ctx context.Context, key string, sess transport.UploadPackSession, adv *advertised, t target, cred credentials) (string, *treeMeta, error) {
	dir := filepath.Join(f.opts.CacheDir, "repos", key)
	c, err := openCache(dir)
	if err != nil {
		return "", nil, err
	}
	defer func() { c.close() }()
	if c.fetched() >= f.opts.MaxCacheCommits {
		c.close()
		f.wipe(key)
		if c, err = openCache(dir); err != nil {
			return "", nil, err
		}
	}
	// The new commit patches a copy of the last tree: one Prepare made
	// beforehand, or else one made while the pack downloads.
	var pre *treeCopy
	defer func() { pre.discard() }()
	if !c.has(t.want) {
		f.downloads.Add(1)
		if pre = f.takeSpare(key); pre != nil {
			f.sparesUsed.Add(1)
		} else {
			pre = f.startCopy(ctx, key, dir)
		}
		err := c.fetch(ctx, sess, adv, fetchOptions{
			want: t.want, depth: packp.DepthCommits(1), maxBytes: f.opts.Limits.MaxBytes, secrets: cred.secrets(),
			// A depth-1 pack holds one object per file and directory;
			// go-git stores one with more than this.
			maxObjects: 2*f.opts.Limits.MaxFiles + 1024,
		})
		if err != nil {
			return "", nil, err
		}
		if c.pack != nil {
			f.ownIndexes.Add(1)
		}
	}
	h, err := peelCommit(c.st, t.want)
	if err != nil {
		return "", nil, err
	}
	if err := c.remember(h); err != nil {
		return "", nil, err
	}
	if dir, m := f.known(key, h.String()); m != nil {
		return dir, m, nil
	}
	commit, err := object.GetCommit(c.st, h)
	if err != nil {
		return "", nil, &cacheError{fmt.Errorf("commit %s: %w", h, err)}
	}
	return f.writeTree(ctx, key, c.st, commit, pre.wait(), c.pack)
}

// lock serializes work on one repository cache, within this process and
// across processes that share the cache directory.
func (f *Fetcher) lock(ctx context.Context, key string) (func(), error) {
	f.mu.Lock()
	ch, ok := f.keyLocks[key]
	if !ok {
		ch = make(chan struct{}, 1)
		f.keyLocks[key] = ch
	}
	f.mu.Unlock()
	select {
	case ch <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	unlockFile, err := lockFile(ctx, filepath.Join(f.opts.CacheDir, "locks", key+".lock"))
	if err != nil {
		<-ch
		return nil, err
	}
	return func() { unlockFile(); <-ch }, nil
}

// wipe removes the repository cache of key. Snapshot trees stay: they are
// complete and immutable.
func (f *Fetcher) wipe(key string) {
	_ = removeAll(filepath.Join(f.opts.CacheDir, "repos", key))
}
