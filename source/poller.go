package source

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// PollerOptions configure a Poller.
type PollerOptions struct {
	// Interval between polls; zero means the Ref's Interval, and one
	// minute when that is zero too.
	Interval time.Duration
	// Jitter spreads every delay by up to this fraction either way, so
	// pollers started together do not hit the forge together.
	Jitter float64
	// MinBackoff is the delay after the first failure; it doubles with
	// each further failure up to MaxBackoff.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// OnUpdate receives every update but "unchanged", from the poller's
	// goroutine. It should return quickly.
	OnUpdate func(Update)
}

// DefaultPollerOptions returns 10% jitter and a backoff from 2 seconds to
// 5 minutes; the interval comes from the Ref.
func DefaultPollerOptions() PollerOptions {
	return PollerOptions{Jitter: 0.1, MinBackoff: 2 * time.Second, MaxBackoff: 5 * time.Minute}
}

// UpdateKind names what a poll found.
type UpdateKind string

// The kinds of Update.
const (
	// UpdateInitial: the first snapshot.
	UpdateInitial UpdateKind = "initial"
	// UpdateChanged: a new head; Relation says fast-forward or unknown
	// (always unknown for a semver Ref, which moves between tags).
	UpdateChanged UpdateKind = "changed"
	// UpdateRewritten: a new head that does not descend from the previous
	// one (a force-push, or a tag moved to other history). The new head is
	// used; this is not an error.
	UpdateRewritten UpdateKind = "rewritten"
	// UpdateUnchanged: the head did not move. Not sent to OnUpdate.
	UpdateUnchanged UpdateKind = "unchanged"
	// UpdateFailed: the poll failed; Snapshot is still the last good one.
	UpdateFailed UpdateKind = "failed"
	// UpdateRecovered: a poll succeeded after failures, head unchanged.
	UpdateRecovered UpdateKind = "recovered"
)

// Update is the outcome of one poll.
type Update struct {
	Kind UpdateKind
	Ref  Ref
	// Snapshot is the current snapshot: the new one, or the last good one
	// after a failure (nil when no poll has succeeded yet).
	Snapshot *Snapshot
	// Previous is the snapshot before a change.
	Previous *Snapshot
	// Relation of Snapshot to Previous, for changed and rewritten.
	Relation Relation
	// Err is why the poll failed.
	Err error
	// RelationErr is why Relation is unknown, when a change was found but
	// its history could not be read. The new head is used regardless.
	RelationErr error
	// Failures counts consecutive failures, this one included.
	Failures int
	// RetryIn is the delay before the next poll.
	RetryIn time.Duration
}

// Poller polls one Ref: on a timer with jitter, at once when woken, and
// with exponential backoff after failures. It keeps the last good
// Snapshot when a poll fails.
type Poller struct {
	fetcher *Fetcher
	ref     Ref
	opts    PollerOptions
	key     string
	wake    chan struct{}

	pollMu   sync.Mutex // one poll at a time
	mu       sync.Mutex
	last     *Snapshot
	failures int
	polls    atomic.Int64
}

// NewPoller returns a Poller for ref. A zero MinBackoff or MaxBackoff
// takes its default from DefaultPollerOptions; a zero Jitter means none.
func NewPoller(f *Fetcher, ref Ref, opts PollerOptions) (*Poller, error) {
	if err := ref.Validate(f.opts.AllowFile); err != nil {
		return nil, err
	}
	def := DefaultPollerOptions()
	if opts.Interval <= 0 {
		opts.Interval = ref.Interval
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	if opts.Jitter < 0 || opts.Jitter > 1 {
		return nil, errors.New("source poller: jitter must be within [0, 1]")
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = def.MinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(def.MaxBackoff, opts.MinBackoff)
	}
	return &Poller{fetcher: f, ref: ref, opts: opts, key: RepoKey(ref.URL), wake: make(chan struct{}, 1)}, nil
}

// Ref returns the polled Ref.
func (p *Poller) Ref() Ref { return p.ref }

// RepoKey returns RepoKey of the Ref's URL, which webhooks match.
func (p *Poller) RepoKey() string { return p.key }

// Last returns the last good Snapshot, or nil.
func (p *Poller) Last() *Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// Polls returns how many polls have run.
func (p *Poller) Polls() int64 { return p.polls.Load() }

// Prepare copies the newest tree of the polled repository for the next
// poll that finds a new commit to patch (Fetcher.Prepare). Call it while
// the poller is idle.
func (p *Poller) Prepare(ctx context.Context) error {
	return p.fetcher.Prepare(ctx, p.ref)
}

// Wake makes Run poll at once. Wakes that arrive while a poll runs
// collapse into one more poll, so a flood costs at most two.
func (p *Poller) Wake() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run polls until ctx is done; the first poll is immediate. It returns
// nil when ctx ends.
func (p *Poller) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-p.wake:
		}
		u := p.Poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		timer.Reset(u.RetryIn)
	}
}

// Poll polls once, now, and reports the Update (also to OnUpdate unless
// it is unchanged).
func (p *Poller) Poll(ctx context.Context) Update {
	p.pollMu.Lock()
	defer p.pollMu.Unlock()
	p.polls.Add(1)
	u := p.poll(ctx)
	if u.Kind != UpdateUnchanged && p.opts.OnUpdate != nil && ctx.Err() == nil {
		p.opts.OnUpdate(u)
	}
	return u
}

func (p *Poller) poll(ctx context.Context) Update {
	p.mu.Lock()
	prev, failures := p.last, p.failures
	p.mu.Unlock()
	next, err := p.fetcher.Fetch(ctx, p.ref)
	if err != nil {
		failures++
		p.mu.Lock()
		p.failures = failures
		p.mu.Unlock()
		if prev != nil {
			// Keep the last good tree on disk while the remote fails.
			p.fetcher.known(cacheKeyOf(p.ref.URL, p.fetcher.opts.AllowFile), prev.Commit)
		}
		return Update{Kind: UpdateFailed, Ref: p.ref, Snapshot: prev, Err: err,
			Failures: failures, RetryIn: p.backoff(failures, err)}
	}
	u := Update{Ref: p.ref, Snapshot: next, Previous: prev, RetryIn: p.jitter(p.opts.Interval)}
	switch {
	case prev == nil:
		u.Kind, u.Previous = UpdateInitial, nil
	case prev.Commit == next.Commit && failures > 0:
		u.Kind, u.Previous = UpdateRecovered, nil
	case prev.Commit == next.Commit:
		u.Kind, u.Previous = UpdateUnchanged, nil
	case p.ref.Kind() == KindSemVer:
		// Moving to another tag is what a semver range is for; whether
		// the new tag descends from the old one does not matter.
		u.Kind, u.Relation = UpdateChanged, RelationUnknown
	default:
		// A failed comparison is not a failed poll: the head is used.
		rel, err := p.fetcher.Compare(ctx, p.ref, prev, next)
		u.Kind, u.Relation, u.RelationErr = UpdateChanged, rel, err
		if rel == RelationRewritten {
			u.Kind = UpdateRewritten
		}
	}
	p.mu.Lock()
	p.last, p.failures = next, 0
	p.mu.Unlock()
	return u
}

// backoff returns the delay after the n-th consecutive failure; a Ref
// that can never work waits the longest.
func (p *Poller) backoff(n int, err error) time.Duration {
	d := p.opts.MaxBackoff
	if !errors.Is(err, ErrInvalidRef) && n < 31 {
		d = min(p.opts.MinBackoff<<(n-1), p.opts.MaxBackoff)
	}
	return p.jitter(d)
}

// jitter spreads d by up to Jitter either way.
func (p *Poller) jitter(d time.Duration) time.Duration {
	if p.opts.Jitter == 0 {
		return d
	}
	f := 1 + p.opts.Jitter*(2*rand.Float64()-1)
	return time.Duration(float64(d) * f)
}

func cacheKeyOf(raw string, allowFile bool) string {
	u, err := parseRepoURL(raw, allowFile)
	if err != nil {
		return ""
	}
	return cacheKey(u)
}
