package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/metrics"
	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/apply/policy"
	"github.com/carina-gitops/carina/render"
)

// Extra keys the agent keeps in inventories.
const (
	extraInputs   = "carina.inputs"
	extraWorkflow = "carina.workflow"
)

// healthPoll is how soon a progressing env is looked at again.
const healthPoll = 500 * time.Millisecond

// envRun is one reconcile of an (app, env).
type envRun struct {
	a      *Agent
	id     string
	app    string
	env    string
	start  time.Time
	log    *slog.Logger
	record api.Reconcile
	// reason, when set, names what the reconcile did in its record.
	reason string
}

// applyOptions are the agent's apply options: prune, create missing
// namespaces, and force conflicts, because Git wins over a `kubectl
// edit` (drift contests bound the fight with other controllers).
func applyOptions() apply.ApplyOptions {
	o := apply.DefaultApplyOptions()
	o.Force = true
	return o
}

// reconcileEnv runs the pipeline of one (app, env): gate → fast path →
// render → apply → health → record. It returns when to look again, and an
// error for the queue's backoff.
func (a *Agent) reconcileEnv(ctx context.Context, app, env string) (time.Duration, error) {
	d := a.desiredApp(app)
	if d == nil {
		return 0, nil
	}
	r := &envRun{a: a, id: reconcileID(ctx), app: app, env: env, start: a.now(), log: a.log.With("app", app, "env", env)}
	r.record = api.Reconcile{ID: r.id, Start: r.start, Revision: d.Snapshot.Revision()}
	e, ok := d.env(env)
	if !ok {
		return 0, nil
	}
	ob := r.observe(d)
	if ob.gate == gateWorkflow && ob.set == nil {
		r.restoreIntent(ctx, d)
	}
	switch {
	case ob.gate != "" && len(ob.due) > 0:
		// Waiting for the workflow, the env still holds what it applied
		// last: drift of that is undone. Its sync and health stay (a
		// newer release waits).
		if err := r.correct(ctx, ob.set, ob.due); err != nil {
			return 0, err
		}
		r.finish(metrics.ResultSuccess, "drift corrected; "+ob.gate, nil, nil)
		return 0, nil
	case ob.gate != "":
		r.finish(metrics.ResultSkipped, ob.gate, nil, nil)
		return 0, nil
	case ob.fast && len(ob.due) > 0:
		if err := r.correct(ctx, ob.set, ob.due); err != nil {
			return 0, err
		}
		r.reason = "drift corrected"
		return r.health(ctx, ob.set, e.Clusters, map[string]string{})
	case ob.fast:
		return r.fastPath(ctx, ob.set, e.Clusters)
	}
	inputs := ob.inputs
	res, err := r.render(ctx, d, e)
	if err != nil {
		r.fail(err)
		return 0, err
	}
	set := policy.Set(res, d.App, e, d.Snapshot.Commit)
	changes, err := r.apply(ctx, e.Clusters, set, inputs)
	if err != nil {
		r.fail(err)
		return 0, err
	}
	return r.health(ctx, set, e.Clusters, changes)
}

// gateWorkflow is the gate of an env the workflow has not released at
// the current release.
const gateWorkflow = "waiting for the workflow to reach this environment"

// observation is what a reconcile found before doing anything.
type observation struct {
	// gate says why nothing may happen now (suspended, not released).
	gate string
	// fast: nothing a render reads changed since the last successful
	// apply, whose set is set.
	fast   bool
	set    *apply.Set
	inputs string
	// due are the drifted objects to correct now, by cluster.
	due map[string][]*driftEntry
}

// observe decides what this reconcile does: a gate (suspended, or not
// released by the workflow yet), drift corrections, the fast path, or a
// full run. After a restart the last set is not known, so the first
// reconcile is a full run: it writes nothing that did not change and it
// tells the drift watcher what to compare with.
func (r *envRun) observe(d *desiredApp) observation {
	s := r.a.store
	s.mu.Lock()
	defer s.mu.Unlock()
	ar := s.app(r.app)
	er := ar.env(r.env)
	ob := observation{inputs: d.Inputs[r.env], set: er.set}
	switch {
	case ar.suspended:
		ob.gate = "application is suspended"
		return ob
	case er.released != d.Release:
		ob.gate = gateWorkflow
		if er.set != nil && er.lastError == nil {
			ob.due = r.a.dueCorrections(r.app, r.env, er, r.a.now())
		}
		return ob
	}
	ob.fast = !er.force && er.applied && er.inputs == ob.inputs && er.lastError == nil && er.set != nil
	er.force = false
	if ob.fast {
		ob.due = r.a.dueCorrections(r.app, r.env, er, r.a.now())
	}
	return ob
}

// fastPath: nothing that a render reads changed and the last apply
// succeeded, so nothing is rendered or applied. Health is looked at only
// while it is not settled, on the objects the last apply sent.
func (r *envRun) fastPath(ctx context.Context, set *apply.Set, clusters []string) (time.Duration, error) {
	s := r.a.store
	s.mu.Lock()
	h := s.app(r.app).env(r.env).health
	s.mu.Unlock()
	if h == api.HealthHealthy || h == api.HealthDegraded {
		r.finish(metrics.ResultSkipped, "unchanged", nil, nil)
		return 0, nil
	}
	return r.health(ctx, set, clusters, nil)
}

func (r *envRun) render(ctx context.Context, d *desiredApp, e appfile.Environment) (*render.Result, error) {
	t0 := time.Now()
	opts := r.a.renderOpts
	opts.Cluster = firstOr(e.Clusters, "")
	res, err := r.a.renderer.Render(ctx, d.App, e, d.Registry, d.Snapshot.FS(), opts)
	r.a.rec.Phase(r.app, r.env, metrics.PhaseRender, time.Since(t0))
	r.a.renders.Add(1)
	if err != nil {
		return nil, fmt.Errorf("render of %s in %s at %s: %w", r.app, r.env, d.Snapshot.Revision(), err)
	}
	return res, nil
}

// apply applies set to every cluster of the env and records the inputs
// in each inventory, so that a restarted agent can take the fast path.
func (r *envRun) apply(ctx context.Context, clusters []string, set *apply.Set, inputs string) (map[string]string, error) {
	t0 := time.Now()
	defer func() { r.a.rec.Phase(r.app, r.env, metrics.PhaseApply, time.Since(t0)) }()
	changes := map[string]string{}
	counts := map[string]int{}
	var errs []error
	for _, c := range clusters {
		t, err := r.a.target(c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.a.driftPause(c, r.app, r.env)
		cs, err := t.Apply(ctx, set, applyOptions())
		if err != nil {
			r.a.driftTrack(c, r.app, r.env, nil)
		} else {
			r.a.driftTrack(c, r.app, r.env, set)
		}
		if cs != nil {
			for _, en := range cs.Entries {
				changes[en.ID.String()] = string(en.Action)
				counts[string(en.Action)]++
			}
			r.a.events.changeSet(ctx, c, r.app, r.env, set, cs, err)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: %w", c, err))
			continue
		}
		err = t.UpdateInventory(ctx, r.app, r.env, func(inv *inventory.Inventory) error {
			if inv.Extra == nil {
				inv.Extra = map[string]string{}
			}
			inv.Extra[extraInputs] = inputs
			r.a.markSource(inv, r.app)
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: %w", c, err))
		}
	}
	for _, act := range []string{metrics.ActionCreated, metrics.ActionConfigured, metrics.ActionUnchanged, metrics.ActionPruned} {
		r.a.rec.ApplyObjects(r.app, r.env, act, counts[act])
	}
	r.record.Changes = counts
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s := r.a.store
	s.mu.Lock()
	er := s.app(r.app).env(r.env)
	er.applied, er.inputs, er.revision, er.digest, er.actions = true, inputs, r.record.Revision, set.Digest, changes
	er.set = set
	s.mu.Unlock()
	return changes, nil
}

// health reads the health of the applied objects once; a progressing env
// is looked at again shortly (the workflow's step timeout bounds it).
func (r *envRun) health(ctx context.Context, set *apply.Set, clusters []string, changes map[string]string) (time.Duration, error) {
	t0 := time.Now()
	var all []ObjectHealth
	var errs []error
	for _, c := range clusters {
		t, err := r.a.target(c)
		if err == nil {
			var rep *apply.HealthReport
			rep, err = t.Health(ctx, set)
			if rep != nil {
				all = append(all, rep.Objects...)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: health: %w", c, err))
		}
	}
	r.a.rec.Phase(r.app, r.env, metrics.PhaseHealth, time.Since(t0))
	if err := errors.Join(errs...); err != nil {
		r.fail(err)
		return 0, err
	}
	h := rollup(all)
	reason := r.reason
	switch {
	case reason != "":
	case changes == nil:
		reason = "health checked"
	default:
		reason = "applied"
	}
	r.finish(metrics.ResultSuccess, reason, all, &h)
	r.a.enqueueWorkflow(r.app)
	if h == api.HealthProgressing || h == api.HealthUnknown {
		return healthPoll, nil
	}
	return 0, nil
}

// fail records a failed reconcile: the last applied state stays, the
// status says Stalled with the sanitized error.
func (r *envRun) fail(err error) {
	es := sanitize(err, r.a.now())
	s := r.a.store
	s.mu.Lock()
	er := s.app(r.app).env(r.env)
	er.lastError, er.sync = es, api.SyncStalled
	s.mu.Unlock()
	r.record.Error = es.Message
	r.finish(metrics.ResultError, "failed", nil, nil)
	r.log.Warn("reconcile failed", "reconcile", r.id, "error", es.Message)
	r.a.enqueueWorkflow(r.app)
}

// finish records the reconcile in status, history and metrics.
func (r *envRun) finish(result, reason string, objs []ObjectHealth, h *api.Health) {
	now := r.a.now()
	r.record.Duration, r.record.Result, r.record.Reason = now.Sub(r.start), result, reason
	s := r.a.store
	s.mu.Lock()
	er := s.app(r.app).env(r.env)
	er.lastReconcile = now
	if h != nil {
		er.health, er.objects, er.lastError, er.sync = *h, objs, nil, api.SyncSynced
	}
	er.addHistory(r.record, s.history)
	clusters, rev, health, sync := er.clusters, er.revision, er.health, er.sync
	s.mu.Unlock()
	r.a.rec.Reconcile(r.app, r.env, result)
	for _, c := range clusters {
		r.a.rec.AppInfo(r.app, r.env, c, rev, string(health), string(sync))
	}
	if result != metrics.ResultSkipped || reason != "unchanged" {
		r.log.Debug("reconcile finished", "reconcile", r.id, "result", result, "reason", reason, "revision", r.record.Revision, "duration", r.record.Duration)
	}
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}
