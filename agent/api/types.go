package api

import (
	"time"

	"github.com/carina-gitops/carina/apply/health"
)

// Sync says whether the cluster matches what Git declares.
type Sync string

// The sync states.
const (
	SyncUnknown   Sync = "Unknown"   // nothing applied yet
	SyncSynced    Sync = "Synced"    // the last apply of the current revision succeeded
	SyncOutOfSync Sync = "OutOfSync" // a newer revision or drift is not applied yet
	SyncStalled   Sync = "Stalled"   // reconciling fails; the last good state stays applied
	SyncPruning   Sync = "Pruning"   // it left its source; its objects are being deleted
)

// Health is the aggregated health of objects.
type Health string

// The health states, from best to worst.
const (
	HealthHealthy     Health = "Healthy"
	HealthProgressing Health = "Progressing"
	HealthDegraded    Health = "Degraded"
	HealthMissing     Health = "Missing"
	HealthUnknown     Health = "Unknown"
)

// StepPhase is the state of a workflow step.
type StepPhase string

// The step phases.
const (
	StepPending   StepPhase = "pending"
	StepRunning   StepPhase = "running"
	StepSuspended StepPhase = "suspended"
	StepSucceeded StepPhase = "succeeded"
	StepFailed    StepPhase = "failed"
	StepSkipped   StepPhase = "skipped"
)

// AppSummary is one line of GET /api/v1/apps.
type AppSummary struct {
	Name      string       `json:"name"`
	Source    string       `json:"source"`
	Revision  string       `json:"revision,omitempty"`
	Suspended bool         `json:"suspended,omitempty"`
	Envs      []EnvSummary `json:"envs"`
	Error     string       `json:"error,omitempty"`
}

// EnvSummary is an environment in an AppSummary.
type EnvSummary struct {
	Name      string   `json:"name"`
	Clusters  []string `json:"clusters,omitempty"`
	Namespace string   `json:"namespace,omitempty"`
	// Pinned is the revision the environment is pinned to in Git
	// (environments/<env>.yaml), "" when it follows the branch head.
	Pinned string `json:"pinned,omitempty"`
	// Preview is the pull request of a preview environment (pr-<n>).
	Preview       *PreviewStatus `json:"preview,omitempty"`
	Revision      string         `json:"revision,omitempty"`
	Sync          Sync           `json:"sync"`
	Health        Health         `json:"health"`
	LastReconcile time.Time      `json:"lastReconcile,omitzero"`
	// Drifted counts the objects that drifted and are not corrected yet.
	Drifted int `json:"drifted,omitempty"`
	// Warnings counts the env's warnings (EnvStatus.Warnings).
	Warnings int `json:"warnings,omitempty"`
	// Error is the env's last error, sanitized, while it is not
	// reconciled again successfully.
	Error string `json:"error,omitempty"`
}

// SourceStatus is one line of GET /api/v1/sources: an application
// source.
type SourceStatus struct {
	Name string `json:"name"`
	// Revision is the revision last loaded.
	Revision string `json:"revision,omitempty"`
	// Apps counts the applications desired from the source.
	Apps int `json:"apps"`
	// PruneHeld is the prune the mass-deletion guard holds until a
	// person confirms it; nil when none.
	PruneHeld *PruneHold `json:"pruneHeld,omitempty"`
	// Error is why the last fetch failed (the source is unreachable, or
	// refused by the egress policy, ...); nil once a fetch succeeds. The
	// last snapshot, if any, is kept meanwhile.
	Error *ErrorStatus `json:"error,omitempty"`
}

// PruneHold is a prune the mass-deletion guard holds: a snapshot, or
// the orphan collection after a restart, would remove every deployment
// of a source or more than its maxPruneFraction.
type PruneHold struct {
	// Revision is what `carina prune confirm` names.
	Revision string `json:"revision"`
	// Apps are the applications that would lose deployments; Items say
	// what each loses ("shop", or "shop (staging in c1)").
	Apps  []string `json:"apps"`
	Items []string `json:"items"`
	// Deployments of Total (app, env, cluster) would be removed.
	Deployments int `json:"deployments"`
	Total       int `json:"total"`
	// Orphans says the prune comes from the orphan collection after a
	// restart.
	Orphans bool   `json:"orphans,omitempty"`
	Message string `json:"message"`
}

// AppStatus is GET /api/v1/apps/{app}.
type AppStatus struct {
	Name   string `json:"name"`
	Source string `json:"source"`
	// Revision is the source revision the application was last read at.
	Revision string `json:"revision,omitempty"`
	// File is where the application is defined, relative to the repo.
	File      string `json:"file,omitempty"`
	Suspended bool   `json:"suspended,omitempty"`
	// Workflow holds the state of every step, in order.
	Workflow []StepStatus `json:"workflow,omitempty"`
	Envs     []EnvStatus  `json:"envs"`
	// Error is the last error that concerns the application as a whole
	// (fetch or parse), sanitized.
	Error *ErrorStatus `json:"error,omitempty"`
}

// EnvStatus is GET /api/v1/apps/{app}/envs/{env}.
type EnvStatus struct {
	App       string   `json:"app"`
	Name      string   `json:"name"`
	Clusters  []string `json:"clusters,omitempty"`
	Namespace string   `json:"namespace,omitempty"`
	// Pinned is the revision the environment is pinned to in Git
	// (environments/<env>.yaml), "" when it follows the branch head.
	Pinned string `json:"pinned,omitempty"`
	// Preview is the pull request of a preview environment (pr-<n>).
	Preview *PreviewStatus `json:"preview,omitempty"`
	// Revision is the source revision last applied.
	Revision string `json:"revision,omitempty"`
	// Digest is the render digest last applied.
	Digest        string            `json:"digest,omitempty"`
	Sync          Sync              `json:"sync"`
	Health        Health            `json:"health"`
	Components    []ComponentStatus `json:"components,omitempty"`
	Workflow      []StepStatus      `json:"workflow,omitempty"`
	LastReconcile time.Time         `json:"lastReconcile,omitzero"`
	LastError     *ErrorStatus      `json:"lastError,omitempty"`
	// Drift are the objects whose live state left the last applied one
	// and that are not corrected yet.
	Drift []DriftStatus `json:"drift,omitempty"`
	// Warnings are what the last successful render flagged without
	// failing: what KubeVela accepts and Carina warns about (a trait
	// outside its appliesToWorkloads, two traits that conflictsWith
	// names; errors when the source is strict), and a cluster version
	// that could not be read. Each once, at most 20.
	Warnings []string `json:"warnings,omitempty"`
	// History is the last reconciles, newest first.
	History []Reconcile `json:"history,omitempty"`
}

// DriftState is what is happening to a drifted object.
type DriftState string

// Drift states.
const (
	DriftCorrecting DriftState = "Correcting" // a correction is due or running
	DriftContested  DriftState = "Contested"  // something keeps undoing corrections; held off
	DriftReported   DriftState = "Reported"   // the drift policy says report only
)

// DriftStatus is one drifted object.
type DriftStatus struct {
	Cluster   string `json:"cluster"`
	Component string `json:"component,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Reason is modified or deleted.
	Reason string `json:"reason"`
	// Keys name, for a Secret whose values drifted, the keys whose value
	// differs; never a value.
	Keys  []string   `json:"keys,omitempty"`
	State DriftState `json:"state"`
	// Since is when the drift was found; RetryAt when a contested object
	// is corrected again.
	Since   time.Time `json:"since"`
	RetryAt time.Time `json:"retryAt,omitzero"`
}

// ComponentStatus is the health of one component's objects.
type ComponentStatus struct {
	Name    string         `json:"name"`
	Health  Health         `json:"health"`
	Message string         `json:"message,omitempty"`
	Objects []ObjectStatus `json:"objects,omitempty"`
}

// ObjectStatus is one applied object.
type ObjectStatus struct {
	Cluster   string `json:"cluster,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Health    Health `json:"health"`
	Message   string `json:"message,omitempty"`
	// Action is what the last apply did: created, configured, unchanged.
	Action string `json:"action,omitempty"`
}

// StepStatus is one workflow step.
type StepStatus struct {
	Name       string       `json:"name"`
	Type       string       `json:"type"`
	Phase      StepPhase    `json:"phase"`
	Message    string       `json:"message,omitempty"`
	StartedAt  time.Time    `json:"startedAt,omitzero"`
	FinishedAt time.Time    `json:"finishedAt,omitzero"`
	SubSteps   []StepStatus `json:"subSteps,omitempty"`
}

// ErrorStatus is a sanitized error.
type ErrorStatus struct {
	Message string `json:"message"`
	// Position is file:line:col when the error has one.
	Position string    `json:"position,omitempty"`
	Time     time.Time `json:"time"`
}

// Reconcile is one entry of an environment's history.
type Reconcile struct {
	ID       string        `json:"id"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration"`
	Revision string        `json:"revision,omitempty"`
	// Result is success, error or skipped.
	Result string `json:"result"`
	// Reason says why it ran or what it skipped.
	Reason  string         `json:"reason,omitempty"`
	Changes map[string]int `json:"changes,omitempty"`
	Error   string         `json:"error,omitempty"`
	// Count is how many reconciles in a row ended like this one (the
	// same error at the same revision); 0 means one.
	Count int `json:"count,omitempty"`
}

// Accepted answers the write endpoints.
type Accepted struct {
	App     string `json:"app"`
	Message string `json:"message"`
}

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error string `json:"error"`
}

// HealthOf maps an object's kstatus status (apply/health) to the
// API's health.
func HealthOf(s health.Status) Health {
	switch s {
	case health.Current:
		return HealthHealthy
	case health.InProgress, health.Terminating:
		return HealthProgressing
	case health.Failed:
		return HealthDegraded
	case health.NotFound:
		return HealthMissing
	}
	return HealthUnknown
}

// PreviewStatus is the pull request a preview environment deploys.
type PreviewStatus struct {
	Number int    `json:"number"`
	Title  string `json:"title,omitempty"`
	Author string `json:"author,omitempty"`
	Branch string `json:"branch,omitempty"`
	// Head is the pull request's head commit the preview deploys.
	Head string `json:"head,omitempty"`
	// Waiting says why the preview does not run (maxPreviews, ttl, a
	// load error), "" while it runs.
	Waiting string `json:"waiting,omitempty"`
}
