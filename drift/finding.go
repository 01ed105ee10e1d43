package drift

import (
	"time"

	"github.com/carina-gitops/carina/apply"
)

// Reason is how an object differs from its intent.
type Reason string

// Reasons. Resolved reports that an object reported before matches its
// intent again.
const (
	Modified Reason = "modified"
	Deleted  Reason = "deleted"
	Resolved Reason = "resolved"
)

// Finding is one change of an object's drift state.
type Finding struct {
	Cluster, App, Env string
	ID                apply.ID
	Component         string
	// Mode is the object's drift mode (correct or report).
	Mode   apply.DriftMode
	Reason Reason
	// Keys are, for a Secret whose values drifted, the data keys whose
	// value differs from the desired one (or is missing). A finding never
	// holds a value.
	Keys []string
	// Seen is when the change was observed.
	Seen time.Time
}

// Key identifies the object of a finding within its cluster and
// (app, env).
func (f Finding) Key() string { return f.Cluster + "/" + f.ID.Key() }
