package oci

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carina-gitops/carina/internal/egress"
	"github.com/carina-gitops/carina/source"
)

// Options configure a Fetcher.
type Options struct {
	// CacheDir holds the trees (trees/<key>/<digest hex>). Required.
	CacheDir string
	// Limits bound every fetch: the layer's compressed and extracted
	// bytes, its file count, and the time. Zero fields take those of
	// source.DefaultOptions.
	Limits source.Limits
	// MaxTags bounds the tags listed for a semver Ref.
	MaxTags int
	// HTTPTransport is the base transport; nil clones
	// http.DefaultTransport. Its dial functions are replaced by Egress's.
	HTTPTransport *http.Transport
	// Egress decides which addresses the registry client may connect to,
	// checked at dial time (redirects to blob storage included); nil is
	// egress.Default().
	Egress *egress.Policy
}

// Stats counts what a Fetcher did.
type Stats struct {
	// Resolves counts tag or semver resolutions (requests to the
	// registry that download no layer).
	Resolves int64
	// Pulls counts layer downloads.
	Pulls int64
}

// Fetcher turns Refs into Snapshots. It is safe for concurrent use.
type Fetcher struct {
	opts Options

	mu    sync.Mutex
	locks map[string]*sync.Mutex

	resolves, pulls atomic.Int64
}

// NewFetcher checks opts and creates the cache directory.
func NewFetcher(opts Options) (*Fetcher, error) {
	if opts.CacheDir == "" {
		return nil, errors.New("oci fetcher needs a cache directory")
	}
	def := source.DefaultOptions().Limits
	if opts.Limits.MaxBytes <= 0 {
		opts.Limits.MaxBytes = def.MaxBytes
	}
	if opts.Limits.MaxFiles <= 0 {
		opts.Limits.MaxFiles = def.MaxFiles
	}
	if opts.Limits.Time <= 0 {
		opts.Limits.Time = def.Time
	}
	if opts.MaxTags <= 0 {
		opts.MaxTags = 10_000
	}
	abs, err := filepath.Abs(opts.CacheDir)
	if err != nil {
		return nil, fmt.Errorf("oci cache directory: %w", err)
	}
	opts.CacheDir = abs
	if err := os.MkdirAll(filepath.Join(abs, "trees"), 0o755); err != nil {
		return nil, fmt.Errorf("oci cache directory: %w", err)
	}
	return &Fetcher{opts: opts, locks: map[string]*sync.Mutex{}}, nil
}

// Stats returns the counters.
func (f *Fetcher) Stats() Stats {
	return Stats{Resolves: f.resolves.Load(), Pulls: f.pulls.Load()}
}

// Resolved is what a reference names now.
type Resolved struct {
	// Digest is the manifest digest, "sha256:<hex>".
	Digest string
	// Tag is the tag it came from ("" for a digest Ref).
	Tag string
	// Version is the tag's version for a semver Ref.
	Version string
}

// Resolve asks the registry what ref names now, without downloading a
// layer: one HEAD request for a tag, the tag list for a semver range, and
// nothing for a digest.
func (f *Fetcher) Resolve(ctx context.Context, ref Ref) (Resolved, error) {
	ctx, cancel, host, repo, cred, err := f.begin(ctx, ref)
	if err != nil {
		return Resolved{}, fmt.Errorf("source %s: %w", ref, err)
	}
	defer cancel()
	rp, err := f.repository(host, repo, ref, cred)
	if err != nil {
		return Resolved{}, fmt.Errorf("source %s: %w", ref, err)
	}
	res, err := f.resolve(ctx, rp, ref)
	if err != nil {
		return Resolved{}, f.fail(ctx, ref, err, cred)
	}
	return res, nil
}

// Fetch returns the Snapshot ref names now. It resolves first and
// downloads nothing when the digest's tree is on disk. Errors never hold
// credentials; they match source.ErrInvalidRef, ErrAuth, ErrNotFound,
// ErrLimit, and ErrUnverified where those apply.
func (f *Fetcher) Fetch(ctx context.Context, ref Ref) (*source.Snapshot, error) {
	ctx, cancel, host, repo, cred, err := f.begin(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", ref, err)
	}
	defer cancel()
	rp, err := f.repository(host, repo, ref, cred)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", ref, err)
	}
	res, err := f.resolve(ctx, rp, ref)
	if err != nil {
		return nil, f.fail(ctx, ref, err, cred)
	}
	key := cacheKey(host, repo)
	if m, dir := f.known(key, res.Digest); m != nil {
		return snapshot(ref, res, dir, m), nil
	}
	unlock := f.lock(key)
	defer unlock()
	if m, dir := f.known(key, res.Digest); m != nil {
		return snapshot(ref, res, dir, m), nil
	}
	m, dir, err := f.pull(ctx, rp, ref, res, key)
	if err != nil {
		return nil, f.fail(ctx, ref, err, cred)
	}
	return snapshot(ref, res, dir, m), nil
}

// begin validates ref, loads its credentials and applies the time limit.
func (f *Fetcher) begin(ctx context.Context, ref Ref) (context.Context, context.CancelFunc, string, string, source.HTTPCredentials, error) {
	host, repo, err := ref.parse()
	if err != nil {
		return nil, nil, "", "", source.HTTPCredentials{}, err
	}
	cred, err := ref.Auth.LoadHTTP()
	if err != nil {
		return nil, nil, "", "", source.HTTPCredentials{}, err
	}
	limit := ref.Timeout
	if limit <= 0 {
		limit = f.opts.Limits.Time
	}
	tctx, cancel := context.WithTimeout(ctx, limit)
	return tctx, cancel, host, repo, cred, nil
}

// fail turns an error into one that holds no secret, naming the limit
// when the time ran out.
func (f *Fetcher) fail(ctx context.Context, ref Ref, err error, cred source.HTTPCredentials) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, source.ErrLimit) {
		limit := ref.Timeout
		if limit <= 0 {
			limit = f.opts.Limits.Time
		}
		err = &source.LimitError{Limit: source.LimitTime, Max: int64(limit)}
	}
	return fmt.Errorf("source %s: %w", ref, sanitize(err, cred.Secrets()...))
}

func (f *Fetcher) lock(key string) func() {
	f.mu.Lock()
	l, ok := f.locks[key]
	if !ok {
		l = &sync.Mutex{}
		f.locks[key] = l
	}
	f.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// meta is stored next to a tree.
type meta struct {
	Digest   string    `json:"digest"`
	Created  time.Time `json:"created,omitzero"`
	Source   string    `json:"source,omitempty"`
	Revision string    `json:"revision,omitempty"`
	Files    int       `json:"files"`
	Bytes    int64     `json:"bytes"`
}

func (f *Fetcher) treeDir(key, digest string) string {
	return filepath.Join(f.opts.CacheDir, "trees", key, strings.TrimPrefix(digest, "sha256:"))
}

// known returns the stored meta and tree of digest, if on disk.
func (f *Fetcher) known(key, digest string) (*meta, string) {
	dir := f.treeDir(key, digest)
	b, err := os.ReadFile(dir + ".json")
	if err != nil {
		return nil, ""
	}
	var m meta
	if json.Unmarshal(b, &m) != nil || m.Digest != digest {
		return nil, ""
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, ""
	}
	return &m, dir
}

func snapshot(ref Ref, res Resolved, dir string, m *meta) *source.Snapshot {
	name := res.Tag
	if name == "" {
		name = res.Digest
	}
	msg := m.Revision
	if m.Source != "" {
		msg = strings.TrimSpace(m.Source + " " + m.Revision)
	}
	return &source.Snapshot{
		URL: ref.URL, Ref: name, Commit: res.Digest, Version: res.Version, Time: m.Created,
		Message: msg, Path: ref.Path, Dir: dir, Files: m.Files, Bytes: m.Bytes,
	}
}

// cacheKey is a file name for host/repo: readable, with a hash that
// keeps "a/b_c" and "a_b/c" apart.
func cacheKey(host, repo string) string {
	sum := sha256.Sum256([]byte(host + "/" + repo))
	r := strings.NewReplacer("/", "_", ":", "_")
	return r.Replace(host+"/"+repo) + "-" + hex.EncodeToString(sum[:4])
}
