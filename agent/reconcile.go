package agent

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/metrics"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/render"
)

// Extra keys the agent keeps in inventories.
const (
	extraInputs   = "carina.inputs"
	extraWorkflow = "carina.workflow"
	// extraKubeVersion is the cluster version the applied set was
	// rendered for ("" when it was the default).
	extraKubeVersion = "carina.kubeVersion"
)

// healthPoll is how soon a progressing env is looked at again.
const healthPoll = 500 * time.Millisecond

// envState is what a reconcile finds an (app, env) in. It is determined
// once, from an immutable desiredApp and copies of the records, and one
// switch acts on it (observe → state → act), as fluxcd/helm-controller's
// reconcile/state.go does.
type envState int

const (
	// stateRemoved: the app no longer has the env; a removal item, if
	// any, prunes it.
	stateRemoved envState = iota
	// stateSuspended: the app is suspended; nothing moves.
	stateSuspended
	// stateGated: the workflow has not let the env deploy the current
	// release; it keeps what it applied last.
	stateGated
	// stateGatedDrifted: gated, and objects of the set it applied last
	// drifted: they are corrected, nothing else moves.
	stateGatedDrifted
	// stateFailed: these inputs failed to render or validate (a terminal
	// error); they are not tried again until they change or a reconcile
	// is asked for.
	stateFailed
	// stateInSync: the inputs are applied and health is settled.
	stateInSync
	// stateProgressing: the inputs are applied; health is not settled.
	stateProgressing
	// stateDrifted: the inputs are applied; drifted objects are due.
	stateDrifted
	// stateStale: the inputs changed, were never applied here, the last
	// apply failed, the cluster's version changed, or a reconcile was
	// asked for: render and apply.
	stateStale
)

var stateNames = [...]string{"Removed", "Suspended", "Gated", "GatedDrifted", "Failed", "InSync", "Progressing", "Drifted", "Stale"}

func (s envState) String() string { return stateNames[s] }

// reconciler runs the (app, env) work items.
type reconciler struct {
	log   *slog.Logger
	rec   *metrics.Recorder
	now   func() time.Time
	store *statusStore
	drift *driftBook
	// released says which release the workflow let an env deploy.
	released func(app, env string) string
	restorer *restorer
	events   *eventRecorder
	// statuses posts commit statuses to the forge (nil: none).
	statuses   *commitStatuses
	work       *workers
	targets    *targetSet
	renderer   Renderer
	renderOpts render.Options
	// secrets give each source's renders its SOPS keys and chart
	// credentials; plain redacts decrypted values from what leaves an
	// apply.
	secrets *sourceSecrets
	plain   *plaintexts
	// versions are the clusters' versions (context.clusterVersion).
	versions *clusterVersions

	renders atomic.Int64

	mu     sync.Mutex
	forced map[envKey]bool
}

// force makes the next reconcile of (app, env) skip the fast path and
// try inputs that failed again.
func (r *reconciler) force(app, env string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forced[envKey{app, env}] = true
}

// takeForced reports and clears a forced reconcile.
func (r *reconciler) takeForced(app, env string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := envKey{app, env}
	f := r.forced[k]
	delete(r.forced, k)
	return f
}

// observation is what a reconcile found before doing anything.
type observation struct {
	state  envState
	inputs string
	// set is what the env applied last (nil when unknown), without its
	// Secret values; applied is the rest of what was recorded with it.
	set     *apply.Set
	applied appliedState
	// due are the drifted objects to correct now, by cluster.
	due map[string][]dueObject
}

// observe determines the state of (app, env) at d for a cluster at
// version kv (the env's first cluster's; "" when unknown). After a
// restart the last set is not known, so the first reconcile is Stale: it
// writes nothing that did not change and it tells the drift watcher what
// to compare with; a gated env reads its set back in the background. An
// env applied for another cluster version than kv is Stale too: its
// templates may read context.clusterVersion.
func (r *reconciler) observe(d *desiredApp, env string, kv string) observation {
	e, ok := d.env(env)
	if !ok {
		return observation{state: stateRemoved}
	}
	v := r.store.view(d.Name, env)
	ob := observation{inputs: d.Inputs[env], set: v.applied.set, applied: v.applied}
	switch {
	case r.store.suspended(d.Name):
		ob.state = stateSuspended
		return ob
	case r.released(d.Name, env) != d.Release:
		if ob.set == nil && v.applied.ok {
			r.restorer.request(d, e, v.applied)
		}
		if ob.set != nil && v.lastError == nil {
			ob.due = r.drift.due(d.Name, env, r.now())
		}
		ob.state = stateGated
		if len(ob.due) > 0 {
			ob.state = stateGatedDrifted
		}
		return ob
	}
	forced := r.takeForced(d.Name, env)
	switch {
	case forced:
		ob.state = stateStale
	case v.terminal != "" && v.terminal == terminalKey(ob.inputs, kv):
		ob.state = stateFailed
	case !v.applied.ok || v.applied.inputs != ob.inputs || v.lastError != nil || ob.set == nil,
		kv != "" && v.applied.kubeVersion != kv:
		ob.state = stateStale
	default:
		ob.due = r.drift.due(d.Name, env, r.now())
		switch {
		case len(ob.due) > 0:
			ob.state = stateDrifted
		case (v.health == api.HealthHealthy || v.health == api.HealthDegraded) && !r.drift.takeRecheck(d.Name, env):
			ob.state = stateInSync
		default:
			ob.state = stateProgressing
		}
	}
	return ob
}

// gateWorkflow is the reason of an env the workflow has not released at
// the current release.
const gateWorkflow = "waiting for the workflow to reach this environment"

// reconcile runs one (app, env) at the desired state d: observe, then
// one switch on the state. It returns when to look again, and an error
// for the queue (a terminal one is not retried).
func (r *reconciler) reconcile(ctx context.Context, d *desiredApp, env string) (time.Duration, error) {
	e, ok := d.env(env)
	if !ok {
		return 0, nil // Removed: a removal item, if any, prunes it
	}
	kv, kvErr := r.versions.get(ctx, firstOr(e.Clusters, ""))
	ob := r.observe(d, env, kv.git)
	if ob.state == stateRemoved {
		return 0, nil
	}
	run := r.newRun(ctx, d, e, kv, kvErr)
	switch ob.state {
	case stateSuspended:
		run.finish(metrics.ResultSkipped, "application is suspended", nil)
		return 0, nil
	case stateGated:
		run.finish(metrics.ResultSkipped, gateWorkflow, nil)
		return 0, nil
	case stateGatedDrifted:
		// Waiting for the workflow, the env still holds what it applied
		// last: drift of that is undone. Its sync and health stay (a
		// newer release waits).
		if err := run.correct(ctx, e, ob); err != nil {
			return 0, err
		}
		run.finish(metrics.ResultSuccess, "drift corrected; "+gateWorkflow, nil)
		return 0, nil
	case stateFailed:
		// Reported once when it failed; nothing is recorded again.
		return 0, nil
	case stateInSync:
		run.finish(metrics.ResultSkipped, "unchanged", nil)
		return 0, nil
	case stateProgressing:
		return run.health(ctx, ob.set, e.Clusters, "health checked")
	case stateDrifted:
		if err := run.correct(ctx, e, ob); err != nil {
			return 0, err
		}
		return run.health(ctx, ob.set, e.Clusters, "drift corrected")
	}
	return run.deploy(ctx, e, ob.inputs)
}

// terminalKey names what a terminal render error is terminal for: the
// inputs at a cluster version.
func terminalKey(inputs, kubeVersion string) string {
	if kubeVersion == "" {
		return inputs
	}
	return inputs + " " + kubeVersion
}
