package drift

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestContests(t *testing.T) {
	opts := ContestOptions{Window: time.Minute, Corrections: 3, Backoff: 10 * time.Second, MaxBackoff: 25 * time.Second}
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	type step struct {
		sec  int
		want Decision
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"rare drift is always corrected", []step{
			{0, Decision{State: Correcting, Corrections: 1}},
			{61, Decision{State: Correcting, Corrections: 1}},
			{130, Decision{State: Correcting, Corrections: 1}},
		}},
		{"a fight becomes a contest, and the hold-off doubles up to the cap", []step{
			{0, Decision{State: Correcting, Corrections: 1}},
			{1, Decision{State: Correcting, Corrections: 2}},
			{2, Decision{State: Correcting, Corrections: 3}},
			{3, Decision{State: Contested, RetryAt: at(13), Corrections: 3}},
			{5, Decision{State: Contested, RetryAt: at(13), Corrections: 0}},
			{13, Decision{State: Correcting, Corrections: 1}},
			{14, Decision{State: Correcting, Corrections: 2}},
			{15, Decision{State: Correcting, Corrections: 3}},
			{16, Decision{State: Contested, RetryAt: at(36), Corrections: 3}},
			{36, Decision{State: Correcting, Corrections: 1}},
			{37, Decision{State: Correcting, Corrections: 2}},
			{38, Decision{State: Correcting, Corrections: 3}},
			{39, Decision{State: Contested, RetryAt: at(64), Corrections: 3}},
		}},
		{"a quiet window after the hold-off ends the contest", []step{
			{0, Decision{State: Correcting, Corrections: 1}},
			{1, Decision{State: Correcting, Corrections: 2}},
			{2, Decision{State: Correcting, Corrections: 3}},
			{3, Decision{State: Contested, RetryAt: at(13), Corrections: 3}},
			{200, Decision{State: Correcting, Corrections: 1}},
			{201, Decision{State: Correcting, Corrections: 2}},
			{202, Decision{State: Correcting, Corrections: 3}},
			{203, Decision{State: Contested, RetryAt: at(213), Corrections: 3}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewContests(opts)
			for _, s := range tt.steps {
				if diff := cmp.Diff(s.want, c.Decide("obj", at(s.sec))); diff != "" {
					t.Fatalf("at %ds (-want +got):\n%s", s.sec, diff)
				}
			}
		})
	}
	c := NewContests(opts)
	for i := range 3 {
		c.Decide("a", at(i))
	}
	if got := c.Decide("b", at(3)); got.State != Correcting {
		t.Errorf("another object is judged on its own: %+v", got)
	}
	c.Forget("a")
	if got := c.Decide("a", at(4)); got.State != Correcting {
		t.Errorf("after Forget: %+v", got)
	}
}
