package apply

import (
	"fmt"
	"strings"
	"time"
)

// Action is what Apply did to one object.
type Action string

// Actions.
const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
	Pruned     Action = "pruned"
	Skipped    Action = "skipped"
	Failed     Action = "failed"
)

// Entry is the outcome for one object.
type Entry struct {
	ID        ID     `json:"object"`
	Component string `json:"component,omitempty"`
	Action    Action `json:"action"`
	// Reason explains skipped and failed entries and unusual actions
	// (recreated, taken over, shared).
	Reason string `json:"reason,omitempty"`
	// Err is the error of a failed entry.
	Err error `json:"-"`
}

// String prints "Kind/namespace/name action[: reason]".
func (e Entry) String() string {
	if e.Reason != "" {
		return fmt.Sprintf("%s %s: %s", e.ID, e.Action, e.Reason)
	}
	return fmt.Sprintf("%s %s", e.ID, e.Action)
}

// StageReport describes one stage of an apply (or the prune).
type StageReport struct {
	Name string `json:"name"`
	// Objects is the number of objects in the stage, DryRuns and Writes
	// the requests it needed.
	Objects  int           `json:"objects"`
	DryRuns  int           `json:"dryRuns"`
	Writes   int           `json:"writes"`
	Duration time.Duration `json:"duration"`
}

// String prints a progress line.
func (r StageReport) String() string {
	return fmt.Sprintf("stage %s: %d objects, %d dry-runs, %d writes in %s", r.Name, r.Objects, r.DryRuns, r.Writes, r.Duration.Round(time.Millisecond))
}

// ChangeSet is the result of an apply.
type ChangeSet struct {
	App     string        `json:"app"`
	Env     string        `json:"env"`
	Entries []Entry       `json:"entries"`
	Stages  []StageReport `json:"stages"`
}

// Count returns the number of entries with the action.
func (c *ChangeSet) Count(a Action) int {
	n := 0
	for _, e := range c.Entries {
		if e.Action == a {
			n++
		}
	}
	return n
}

// Changed reports whether anything was created, configured or pruned.
func (c *ChangeSet) Changed() bool {
	return c.Count(Created)+c.Count(Configured)+c.Count(Pruned) > 0
}

// Summary prints the counts: "2 created, 1 configured, 7 unchanged".
func (c *ChangeSet) Summary() string {
	var parts []string
	for _, a := range []Action{Created, Configured, Unchanged, Pruned, Skipped, Failed} {
		if n := c.Count(a); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, a))
		}
	}
	if len(parts) == 0 {
		return "no objects"
	}
	return strings.Join(parts, ", ")
}
