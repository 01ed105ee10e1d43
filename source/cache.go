package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"golang.org/x/sys/unix"
)

// cacheKey names the on-disk cache of a repository: a hash of its URL
// without user information.
func cacheKey(u repoURL) string {
	v := u
	v.User = ""
	sum := sha256.Sum256([]byte(v.String()))
	return hex.EncodeToString(sum[:12])
}

// localRefPrefix holds one ref per fetched commit, so later fetches can
// tell the server what the cache already has.
const localRefPrefix = "refs/carina/"

// repoCache is the bare, shallow repository a Fetcher keeps per URL.
type repoCache struct {
	dir string
	st  *filesystem.Storage
	// pack is the pack the last fetch stored with its own index, still
	// mapped, for the checkout that follows; nil when go-git stored it.
	pack *mappedPack
}

// cacheError marks a failure of the local cache, which is repaired by
// removing the cache and fetching again.
type cacheError struct{ err error }

func (e *cacheError) Error() string { return "repository cache: " + e.err.Error() }
func (e *cacheError) Unwrap() error { return e.err }

func isCacheError(err error) bool {
	var ce *cacheError
	return errors.As(err, &ce)
}

// objectCacheBytes bounds the object cache of a repository cache. go-git
// puts every object it reads there, blobs included, and resolves a delta
// from its base in the cache or else rebuilds the base's whole chain. Git
// deltifies similar manifests against each other in chains up to 50 deep
// (98% of the blobs of the benchmark repository), and a checkout reads
// them in path order, not chain order: a cache that keeps blobs out, or
// only a few MiB of them, rebuilds about nine objects per blob written
// (reading the 10,000 blobs took 6.6–10 s instead of 1.1 s).
const objectCacheBytes = 16 * cache.MiByte

// openCache opens or creates the cache in dir.
func openCache(dir string) (*repoCache, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, &cacheError{err}
	}
	st := filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRU(objectCacheBytes), filesystem.Options{
		KeepDescriptors:      true,
		LargeObjectThreshold: 1 << 20,
	})
	if err := st.Init(); err != nil {
		return nil, &cacheError{err}
	}
	// Loading the pack indexes finds truncated or garbled ones now rather
	// than halfway through a fetch.
	if err := st.HasEncodedObject(plumbing.ZeroHash); err != nil && !errors.Is(err, plumbing.ErrObjectNotFound) {
		_ = st.Close()
		return nil, &cacheError{err}
	}
	return &repoCache{dir: dir, st: st}, nil
}

func (c *repoCache) close() {
	c.pack.close()
	c.pack = nil
	_ = c.st.Close()
}

// has reports whether the cache holds object h.
func (c *repoCache) has(h plumbing.Hash) bool {
	return c.st.HasEncodedObject(h) == nil
}

// haves lists the commits the cache holds, to send as "have" lines.
func (c *repoCache) haves() []plumbing.Hash {
	iter, err := c.st.IterReferences()
	if err != nil {
		return nil
	}
	defer iter.Close()
	var out []plumbing.Hash
	_ = iter.ForEach(func(r *plumbing.Reference) error {
		if r.Type() == plumbing.HashReference && strings.HasPrefix(r.Name().String(), localRefPrefix) && c.has(r.Hash()) {
			out = append(out, r.Hash())
		}
		return nil
	})
	return out
}

// remember records commit h as held by the cache.
func (c *repoCache) remember(h plumbing.Hash) error {
	ref := plumbing.NewHashReference(plumbing.ReferenceName(localRefPrefix+h.String()), h)
	if err := c.st.SetReference(ref); err != nil {
		return &cacheError{err}
	}
	return nil
}

// fetchOptions shape one pack request.
type fetchOptions struct {
	want     plumbing.Hash
	depth    packp.Depth
	maxBytes int64
	// maxObjects is the most objects a pack may have for the cache to
	// index it itself; go-git indexes larger ones.
	maxObjects int
	secrets    []string
}

// fetch asks the server for o.want and what it needs, as a shallow pack,
// and stores it. Reading more than o.maxBytes fails with a LimitError.
func (c *repoCache) fetch(ctx context.Context, sess transport.UploadPackSession, adv *advertised, o fetchOptions) error {
	shallows, err := c.shallows()
	if err != nil {
		return err
	}
	req, thin, err := c.request(adv, o, shallows)
	if err != nil {
		return err
	}
	resp, err := sess.UploadPack(ctx, req)
	if errors.Is(err, transport.ErrEmptyUploadPackRequest) {
		return nil
	}
	if err != nil {
		return remoteError(err, o.secrets)
	}
	defer resp.Close()
	lr := &limitReader{r: PackStream(req, resp), left: o.maxBytes}
	if err := c.store(ctx, lr, thin, o); err != nil && !errors.Is(err, packfile.ErrEmptyPackfile) {
		if lr.err != nil {
			return lr.err
		}
		// An object over the size limit, or the end of ctx, is not a
		// fault of the cache that a fresh fetch would repair.
		if le := (*LimitError)(nil); errors.As(err, &le) || ctx.Err() != nil {
			return err
		}
		// A local disk problem or a bad pack from the remote: either way
		// one fresh attempt is the remedy.
		return &cacheError{fmt.Errorf("storing the pack: %w", remoteError(err, o.secrets))}
	}
	if err := c.updateShallow(shallows, resp.Shallows, resp.Unshallows); err != nil {
		return err
	}
	if !c.has(o.want) {
		return fmt.Errorf("the server did not send object %s", o.want)
	}
	return nil
}

// request builds the pack request for o. thin reports whether it asks
// for a thin pack.
func (c *repoCache) request(adv *advertised, o fetchOptions, shallows []plumbing.Hash) (*packp.UploadPackRequest, bool, error) {
	req := packp.NewUploadPackRequestFromCapabilities(adv.caps)
	if adv.supports(capability.NoProgress) {
		_ = req.Capabilities.Set(capability.NoProgress)
	}
	if adv.supports(capability.Shallow) {
		_ = req.Capabilities.Set(capability.Shallow)
		req.Depth = o.depth
		req.Shallows = shallows
	}
	if _, ok := o.depth.(packp.DepthSince); ok {
		if !adv.supports(capability.DeepenSince) {
			return nil, false, errors.New("the server does not support deepen-since")
		}
		_ = req.Capabilities.Set(capability.DeepenSince)
	}
	req.Wants = []plumbing.Hash{o.want}
	req.Haves = c.haves()
	// A shallow fetch excludes what the cache has only from a thin pack:
	// without one, git re-sends every object of the new commit. Thin packs
	// refer to objects outside the pack, which only the object-by-object
	// parser resolves, so they are asked for only when there are haves.
	// (go-git drops thin-pack from the advertisement; git servers support
	// it.)
	thin := len(req.Haves) > 0
	if thin {
		_ = req.Capabilities.Set(capability.ThinPack)
	}
	return req, thin, nil
}

// shallows returns the shallow commits the cache holds, dropping lines
// that are garbled or name commits the cache does not have.
func (c *repoCache) shallows() ([]plumbing.Hash, error) {
	list, err := c.st.Shallow()
	if err != nil {
		return nil, &cacheError{err}
	}
	out := list[:0]
	for _, h := range list {
		if !h.IsZero() && c.has(h) {
			out = append(out, h)
		}
	}
	return out, nil
}

// store writes a pack into the cache: a full pack as a packfile with an
// index the cache builds (storePack), a thin pack object by object, resolving its external bases from
// the cache.
func (c *repoCache) store(ctx context.Context, r io.Reader, thin bool, o fetchOptions) error {
	if !thin {
		return c.storePack(ctx, r, o)
	}
	p, err := packfile.NewParserWithStorage(packfile.NewScanner(r), c.st)
	if err != nil {
		return err
	}
	_, err = p.Parse()
	return err
}

// fetched counts the commits the cache has fetched since it was created.
func (c *repoCache) fetched() int {
	return len(c.haves())
}

func (c *repoCache) updateShallow(old, add, remove []plumbing.Hash) error {
	if len(add) == 0 && len(remove) == 0 {
		return nil
	}
	set := make(map[plumbing.Hash]bool, len(old)+len(add))
	for _, h := range old {
		set[h] = true
	}
	for _, h := range add {
		set[h] = true
	}
	for _, h := range remove {
		delete(set, h)
	}
	out := make([]plumbing.Hash, 0, len(set))
	for h := range set {
		out = append(out, h)
	}
	if err := c.st.SetShallow(out); err != nil {
		return &cacheError{err}
	}
	return nil
}

// limitReader fails with a LimitError once more than left bytes are read.
type limitReader struct {
	r    io.Reader
	left int64
	max  int64
	err  error
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.max == 0 {
		l.max = l.left
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		l.err = &LimitError{Limit: LimitBytes, Max: l.max}
		return n, l.err
	}
	return n, err
}

// peelCommit follows tag objects from h to the commit they name.
func peelCommit(s storer.EncodedObjectStorer, h plumbing.Hash) (plumbing.Hash, error) {
	for range 10 {
		obj, err := s.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return plumbing.ZeroHash, &cacheError{fmt.Errorf("object %s: %w", h, err)}
		}
		switch obj.Type() {
		case plumbing.CommitObject:
			return h, nil
		case plumbing.TagObject:
			h, err = tagTarget(obj)
			if err != nil {
				return plumbing.ZeroHash, &cacheError{err}
			}
		default:
			return plumbing.ZeroHash, fmt.Errorf("ref points to a %s, not a commit", obj.Type())
		}
	}
	return plumbing.ZeroHash, errors.New("tag chain is too long")
}

func tagTarget(obj plumbing.EncodedObject) (plumbing.Hash, error) {
	var t object.Tag
	if err := t.Decode(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("tag %s: %w", obj.Hash(), err)
	}
	return t.Target, nil
}

// lockFile takes an exclusive lock on path, waiting until ctx is done.
// The lock keeps two processes that share a cache directory apart.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// removeAll removes dir even where it holds read-only directories.
func removeAll(dir string) error {
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// PackStream returns the pack data of an upload-pack response to req:
// the response itself, or its pack channel when req asked for side-band.
func PackStream(req *packp.UploadPackRequest, resp io.Reader) io.Reader {
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		return sideband.NewDemuxer(sideband.Sideband64k, resp)
	case req.Capabilities.Supports(capability.Sideband):
		return sideband.NewDemuxer(sideband.Sideband, resp)
	}
	return resp
}
