package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestPanicsStartAtZeroPerComponent: every component's panic series
// exists from the start, and Panic counts into its own.
func TestPanicsStartAtZeroPerComponent(t *testing.T) {
	r, _ := newTestRegistry(t)
	if n := testutil.CollectAndCount(r.panics); n != len(panicComponents) {
		t.Errorf("panic series = %d, want one per component (%d)", n, len(panicComponents))
	}
	r.Panic(PanicRender)
	r.Panic(PanicRender)
	r.Panic(PanicWebhook)
	for c, want := range map[string]float64{PanicRender: 2, PanicWebhook: 1, PanicApply: 0, PanicDrift: 0} {
		if got := testutil.ToFloat64(r.panics.WithLabelValues(c)); got != want {
			t.Errorf("carina_panics_total{component=%q} = %v, want %v", c, got, want)
		}
	}
}

// TestPruneHeldFollowsItsSource: the gauge is created at zero with the
// source, holds the number of held apps, and leaves with the source.
func TestPruneHeldFollowsItsSource(t *testing.T) {
	r, _ := newTestRegistry(t)
	r.InitSource("apps")
	r.InitSource("infra")
	if got := testutil.ToFloat64(r.pruneHeld.WithLabelValues("apps")); got != 0 {
		t.Errorf("prune_held after InitSource = %v, want 0", got)
	}
	r.PruneHeld("apps", 4)
	if got := testutil.ToFloat64(r.pruneHeld.WithLabelValues("apps")); got != 4 {
		t.Errorf("prune_held = %v, want 4", got)
	}
	r.PruneHeld("apps", 0)
	r.DeleteSource("apps")
	if n := testutil.CollectAndCount(r.pruneHeld); n != 1 {
		t.Errorf("prune_held series after DeleteSource = %d, want 1 (infra)", n)
	}
}
