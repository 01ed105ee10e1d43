package oci

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/carina-gitops/carina/source"
)

// PollerOptions configure a Poller.
type PollerOptions struct {
	// Interval between polls; 0 means one minute.
	Interval time.Duration
	// MaxBackoff caps the wait after failures; 0 means ten minutes.
	MaxBackoff time.Duration
	// OnUpdate is called, from the Poller's goroutine, with each new
	// digest's Snapshot, or with the error of a failed poll (snap nil).
	OnUpdate func(snap *source.Snapshot, err error)
}

// Poller polls one Ref: each poll resolves the tag to a digest and pulls
// only when the digest moved. It keeps the last good Snapshot on failure
// and backs off exponentially.
type Poller struct {
	f    *Fetcher
	ref  Ref
	opts PollerOptions
	wake chan struct{}

	mu   sync.Mutex
	last *source.Snapshot
}

// NewPoller checks ref.
func NewPoller(f *Fetcher, ref Ref, opts PollerOptions) (*Poller, error) {
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 10 * time.Minute
	}
	return &Poller{f: f, ref: ref, opts: opts, wake: make(chan struct{}, 1)}, nil
}

// Key is the RepoKey a registry webhook names ("host/repo"): use it with
// source.RepoKey of the webhook's repository.
func (p *Poller) Key() string { return source.RepoKey(p.ref.URL) }

// Wake makes the poller poll now.
func (p *Poller) Wake() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Last returns the last good Snapshot, or nil.
func (p *Poller) Last() *source.Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// Poll polls once and reports whether the digest moved.
func (p *Poller) Poll(ctx context.Context) (*source.Snapshot, bool, error) {
	snap, err := p.f.Fetch(ctx, p.ref)
	if err != nil {
		return nil, false, err
	}
	p.mu.Lock()
	moved := p.last == nil || p.last.Commit != snap.Commit
	p.last = snap
	p.mu.Unlock()
	return snap, moved, nil
}

// Run polls until ctx ends.
func (p *Poller) Run(ctx context.Context) {
	failures := 0
	for {
		snap, moved, err := p.Poll(ctx)
		wait := p.opts.Interval
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			failures++
			wait = min(p.opts.Interval<<min(failures, 10), p.opts.MaxBackoff)
			if p.opts.OnUpdate != nil {
				p.opts.OnUpdate(nil, err)
			}
		default:
			failures = 0
			if moved && p.opts.OnUpdate != nil {
				p.opts.OnUpdate(snap, nil)
			}
		}
		wait += time.Duration(rand.Int64N(int64(wait)/10 + 1))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-p.wake:
			t.Stop()
		case <-t.C:
		}
	}
}
