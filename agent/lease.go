package agent

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// leaseFence is this replica's Lease lock. It notes when each of its
// successful writes of the lease record for itself began: whoever reads
// the Lease sees it held by this replica until at least then plus the
// lease duration, so this replica may write until then, and no longer.
type leaseFence struct {
	resourcelock.Interface

	mu sync.Mutex
	// renewed is the start of the last successful write of the record
	// naming this replica (an acquisition or a renewal).
	renewed time.Time
}

func (f *leaseFence) Create(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	return f.note(r, func() error { return f.Interface.Create(ctx, r) })
}

func (f *leaseFence) Update(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	return f.note(r, func() error { return f.Interface.Update(ctx, r) })
}

// note runs the write of r and, when it succeeds for this replica,
// notes when it began.
func (f *leaseFence) note(r resourcelock.LeaderElectionRecord, write func() error) error {
	start := time.Now()
	err := write()
	if err == nil && r.HolderIdentity == f.Identity() {
		f.mu.Lock()
		if start.After(f.renewed) {
			f.renewed = start
		}
		f.mu.Unlock()
	}
	return err
}

// lastRenewal is when the last successful renewal began.
func (f *leaseFence) lastRenewal() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.renewed
}

// hold calls stop once the lease has gone unrenewed for within, or
// returns when ctx ends.
func (f *leaseFence) hold(ctx context.Context, within time.Duration, log *slog.Logger, stop func()) {
	for {
		last := f.lastRenewal()
		wait := time.Until(last.Add(within))
		if wait <= 0 {
			log.Warn("leadership lost: the lease was not renewed within the renew deadline; every write stops",
				"last_renewal", last.Format(time.RFC3339Nano), "renew_deadline", within)
			stop()
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
