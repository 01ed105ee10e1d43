package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"time"

	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/internal/egress"
	"github.com/carina-gitops/carina/source"
	"github.com/carina-gitops/carina/source/oci"
)

// snapshotPoller is what the feed needs of a source's poller: one poll
// now, reported as a source.Update, and the repository key webhooks wake
// it by. *source.Poller (Git) implements it; ociPoller adapts
// *oci.Poller.
type snapshotPoller interface {
	Poll(ctx context.Context) source.Update
	RepoKey() string
}

// preparer is a poller that can ready its next poll while idle
// (source.Poller.Prepare copies the newest tree for the next download to
// patch).
type preparer interface {
	Prepare(ctx context.Context) error
}

var (
	_ preparer       = (*source.Poller)(nil)
	_ snapshotPoller = (*source.Poller)(nil)
	_ snapshotPoller = (*ociPoller)(nil)
)

// newSnapshotPoller builds the poller of a configured source: an OCI
// artifact poller for an oci:// URL, a Git poller otherwise. interval is
// the default when the source sets none.
func newSnapshotPoller(git *source.Fetcher, ociF *oci.Fetcher, s config.Source, interval time.Duration) (snapshotPoller, error) {
	if s.Interval > 0 {
		interval = s.Interval
	}
	if s.IsOCI() {
		if ociF == nil {
			return nil, fmt.Errorf("source %s: no OCI fetcher", s.Name)
		}
		p, err := oci.NewPoller(ociF, s.OCIRef(), oci.PollerOptions{Interval: interval})
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", s.Name, err)
		}
		return newOCIPoller(p, interval), nil
	}
	ref := s.SourceRef()
	ref.Interval = interval
	p, err := source.NewPoller(git, ref, source.PollerOptions{Interval: interval, Jitter: 0.1})
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", s.Name, err)
	}
	return p, nil
}

// newOCIFetcher builds the OCI artifact fetcher when a source needs one
// (nil otherwise): trees under <cacheDir>/oci, with the fetch limits of
// Git sources.
func newOCIFetcher(cfg *config.Config, policy *egress.Policy) (*oci.Fetcher, error) {
	need := false
	for _, s := range append(append([]config.Source(nil), cfg.Sources.Apps...), cfg.Sources.Capabilities...) {
		need = need || s.IsOCI()
	}
	if !need {
		return nil, nil
	}
	lim := cfg.Limits.Fetch
	return oci.NewFetcher(oci.Options{
		CacheDir: filepath.Join(cfg.CacheDir, "oci"),
		Limits:   source.Limits{MaxBytes: int64(lim.MaxBytes), MaxFiles: lim.MaxFiles, Time: lim.Timeout},
		Egress:   policy,
	})
}

// snapshotAt fetches the snapshot of source s at a recorded revision id:
// a Git commit id, or an OCI manifest digest ("sha256:<hex>"). A tree
// already on disk needs no network.
func snapshotAt(ctx context.Context, git *source.Fetcher, ociF *oci.Fetcher, s config.Source, id string) (*source.Snapshot, error) {
	if s.IsOCI() {
		if ociF == nil {
			return nil, fmt.Errorf("source %s: no OCI fetcher", s.Name)
		}
		ref := s.OCIRef()
		ref.Tag, ref.SemVer, ref.Digest = "", "", id
		return ociF.Fetch(ctx, ref)
	}
	ref := s.SourceRef()
	ref.Branch, ref.Tag, ref.SemVer, ref.TagPrefix, ref.Name, ref.Commit = "", "", "", "", "", id
	return git.Fetch(ctx, ref)
}

// ociPoller adapts an *oci.Poller to the feed: each poll resolves the
// tag (one request) and pulls only when the digest moved; the result is
// the source.Update a Git poller would give. An OCI artifact has no
// history, so a new digest is a change whose relation is unknown, never
// a rewrite.
type ociPoller struct {
	p        *oci.Poller
	interval time.Duration
	// minBackoff and maxBackoff bound the delay after failures, as for
	// Git sources (source.DefaultPollerOptions).
	minBackoff, maxBackoff time.Duration

	mu       sync.Mutex
	polled   bool
	failures int
}

func newOCIPoller(p *oci.Poller, interval time.Duration) *ociPoller {
	def := source.DefaultPollerOptions()
	return &ociPoller{p: p, interval: interval, minBackoff: def.MinBackoff, maxBackoff: def.MaxBackoff}
}

// RepoKey is the key registry webhooks name the repository by
// (source.RepoKey of "oci://host/repo").
func (o *ociPoller) RepoKey() string { return o.p.Key() }

// Poll polls once.
func (o *ociPoller) Poll(ctx context.Context) source.Update {
	o.mu.Lock()
	defer o.mu.Unlock()
	prev := o.p.Last()
	snap, moved, err := o.p.Poll(ctx)
	if err != nil {
		o.failures++
		return source.Update{Kind: source.UpdateFailed, Snapshot: prev, Err: err, Failures: o.failures,
			RetryIn: o.backoff(err)}
	}
	u := source.Update{Snapshot: snap, RetryIn: jitter(o.interval)}
	switch {
	case !o.polled || prev == nil:
		u.Kind = source.UpdateInitial
	case moved:
		u.Kind, u.Previous, u.Relation = source.UpdateChanged, prev, source.RelationUnknown
	case o.failures > 0:
		u.Kind = source.UpdateRecovered
	default:
		u.Kind = source.UpdateUnchanged
	}
	o.polled, o.failures = true, 0
	return u
}

// backoff doubles from minBackoff with each failure up to maxBackoff; a
// reference that can never work waits the longest.
func (o *ociPoller) backoff(err error) time.Duration {
	d := o.maxBackoff
	if !errors.Is(err, source.ErrInvalidRef) && o.failures < 31 {
		d = min(o.minBackoff<<(o.failures-1), o.maxBackoff)
	}
	return jitter(d)
}

// jitter spreads d by up to 10% either way, as the Git pollers do.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}
