package agent

// envKey names an (app, env).
type envKey struct{ app, env string }

// removalState is what cancel found; a larger state wins when removals
// of several sources are found.
type removalState int

const (
	removalNone      removalState = iota // nothing to do for the caller (none pending, or only clusters trimmed)
	removalCancelled                     // a removal of the whole env was dropped: its status starts over
	removalRunning                       // a worker is deleting; it requeues the env when done
)
