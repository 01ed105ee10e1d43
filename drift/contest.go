package drift

import (
	"sync"
	"time"
)

// State is what the agent does about a drifted object.
type State string

// States of a drifted object in correct mode.
const (
	// Correcting: correct it now.
	Correcting State = "correcting"
	// Contested: something keeps undoing the corrections; hold off until
	// RetryAt.
	Contested State = "contested"
)

// ContestOptions bound how hard Carina fights over one object.
type ContestOptions struct {
	// Window and Corrections: Corrections corrections of one object
	// within Window make it contested.
	Window      time.Duration
	Corrections int
	// Backoff is the first hold-off of a contested object; each further
	// contest doubles it, up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
}

// DefaultContestOptions: 3 corrections within 2 minutes make an object
// contested; hold-offs run from 30 s to 10 min.
func DefaultContestOptions() ContestOptions {
	return ContestOptions{Window: 2 * time.Minute, Corrections: 3, Backoff: 30 * time.Second, MaxBackoff: 10 * time.Minute}
}

// Decision is what to do about one drifted object now.
type Decision struct {
	State State
	// RetryAt is when a contested object may be corrected again.
	RetryAt time.Time
	// Corrections is how many corrections of the object the window holds,
	// this one included.
	Corrections int
}

// contest is the history of one object.
type contest struct {
	corrections []time.Time
	until       time.Time
	level       int
}

// Contests remembers the recent corrections of each object. It is safe
// for concurrent use.
type Contests struct {
	opts ContestOptions
	mu   sync.Mutex
	objs map[string]*contest
}

// NewContests returns an empty history.
func NewContests(opts ContestOptions) *Contests {
	return &Contests{opts: opts, objs: map[string]*contest{}}
}

// Decide is called when the object key drifted and its policy says to
// correct it. It observes the history, decides, and records a correction
// when it decides to correct.
func (c *Contests) Decide(key string, now time.Time) Decision {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.objs[key]
	if h == nil {
		h = &contest{}
		c.objs[key] = h
	}
	h.expire(now, c.opts.Window)
	switch {
	case now.Before(h.until):
		return Decision{State: Contested, RetryAt: h.until, Corrections: len(h.corrections)}
	case len(h.corrections) >= c.opts.Corrections:
		h.level++
		h.until = now.Add(c.backoff(h.level))
		h.corrections = h.corrections[:0]
		return Decision{State: Contested, RetryAt: h.until, Corrections: c.opts.Corrections}
	}
	h.corrections = append(h.corrections, now)
	return Decision{State: Correcting, Corrections: len(h.corrections)}
}

// Forget drops the history of key (the object left the intent).
func (c *Contests) Forget(key string) {
	c.mu.Lock()
	delete(c.objs, key)
	c.mu.Unlock()
}

// expire drops corrections older than window; a quiet window after the
// last hold-off ends the contest.
func (h *contest) expire(now time.Time, window time.Duration) {
	i := 0
	for i < len(h.corrections) && now.Sub(h.corrections[i]) > window {
		i++
	}
	h.corrections = h.corrections[i:]
	if len(h.corrections) == 0 && h.level > 0 && now.Sub(h.until) > window {
		h.level = 0
	}
}

func (c *Contests) backoff(level int) time.Duration {
	d := c.opts.Backoff
	for i := 1; i < level && d < c.opts.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, c.opts.MaxBackoff)
}
