package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/metrics"
	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/health"
	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/apply/policy"
	"github.com/carina-gitops/carina/internal/panics"
	"github.com/carina-gitops/carina/render"
	"github.com/carina-gitops/carina/render/pool"
	"github.com/carina-gitops/carina/source/forge"
)

// envRun is one reconcile of an (app, env) at one desired state.
type envRun struct {
	r   *reconciler
	d   *desiredApp
	env string
	// as is who its requests run as: the agent or the env's tenant.
	as identity
	// kube is the version of the env's (first) cluster the run renders
	// for; kubeErr says why it is unknown.
	kube    kubeVersion
	kubeErr error
	id      string
	start   time.Time
	log     *slog.Logger
	record  api.Reconcile
}

func (r *reconciler) newRun(ctx context.Context, d *desiredApp, e appfile.Environment, kv kubeVersion, kvErr error) *envRun {
	id, start := reconcileID(ctx), r.now()
	return &envRun{r: r, d: d, env: e.Name, as: identityOf(e), kube: kv, kubeErr: kvErr, id: id, start: start, log: r.log.With("app", d.Name, "env", e.Name),
		record: api.Reconcile{ID: id, Start: start, Revision: d.Snapshot.Revision()}}
}

// applyOptions are the agent's apply options: prune, create missing
// namespaces, and force conflicts, because Git wins over a `kubectl
// edit` (drift contests bound the fight with other controllers). A
// deleted inventory whose app still has labelled objects stalls the env
// (inventory.ErrLost) rather than forget what to prune.
func applyOptions() apply.ApplyOptions {
	o := apply.DefaultApplyOptions()
	o.Force = true
	o.RefuseLostInventory = true
	return o
}

// deploy renders and applies the env, then reads its health. A render
// error is terminal for these inputs.
func (run *envRun) deploy(ctx context.Context, e appfile.Environment, inputs string) (time.Duration, error) {
	run.r.statuses.post(run.d, run.env, forge.StatePending, "deploying to "+strings.Join(e.Clusters, ", "))
	res, err := run.render(ctx, e)
	if err != nil {
		notePanic(run.log, run.r.rec, metrics.PanicRender, err)
		run.renderFailedEvent(ctx, e, err)
		if isTerminalRender(ctx, run.d.App, err) {
			err = terminal(err)
			run.fail(err, terminalKey(inputs, run.kube.git))
			return 0, err
		}
		run.fail(err, "")
		return 0, err
	}
	run.r.plain.set(run.d.Name, run.env, res)
	set := policy.Set(res, run.d.App, e, run.d.Snapshot.Commit)
	if err := confinePreview(e, set); err != nil {
		err = terminal(err)
		run.fail(err, inputs)
		return 0, err
	}
	changes, err := run.apply(ctx, e.Clusters, set, inputs)
	if err != nil {
		run.fail(err, "")
		return 0, err
	}
	reason := "applied"
	if changes == nil {
		reason = "health checked"
	}
	return run.health(ctx, set, e.Clusters, reason)
}

// isTerminalRender says whether a render error will come back for the
// same inputs: not when the render ran out of time or was cancelled, its
// worker crashed or panicked, the pool closed, the source's keys or
// credentials could not be read or no key opens a SOPS file (a Secret
// may change), or the app downloads charts (the network may come back).
func isTerminalRender(ctx context.Context, app *appfile.Application, err error) bool {
	var crash *pool.CrashError
	switch {
	case ctx.Err() != nil, errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.As(err, &crash), errors.Is(err, pool.ErrClosed), errors.Is(err, panics.ErrPanic),
		errors.Is(err, errSourceSecrets), isMissingKey(err):
		return false
	}
	for _, c := range app.Components {
		if c.Type == "helm" {
			return false
		}
	}
	return true
}

// render renders the env for its first cluster, at that cluster's
// version, strict when the source is, and records the render's warnings
// in status.
func (run *envRun) render(ctx context.Context, e appfile.Environment) (*render.Result, error) {
	t0 := time.Now()
	opts, err := run.r.secrets.renderOptions(ctx, run.d.Source, renderOptions(run.r.renderOpts, run.d, e, run.kube))
	if err != nil {
		return nil, fmt.Errorf("render of %s in %s at %s: %w", run.d.Name, run.env, run.d.Snapshot.Revision(), err)
	}
	res, err := renderDecrypted(ctx, run.r.renderer, run.d.App, e, run.d.Registry, run.d.Snapshot.FS(), opts)
	run.r.rec.Phase(run.d.Name, run.env, metrics.PhaseRender, time.Since(t0))
	run.r.renders.Add(1)
	if err != nil {
		return nil, fmt.Errorf("render of %s in %s at %s: %w", run.d.Name, run.env, run.d.Snapshot.Revision(), err)
	}
	run.r.store.setWarnings(run.d.Name, run.env, renderWarnings(res, run.kubeErr))
	return res, nil
}

// renderOptions are base with what one render of d's env e sets: the
// cluster (context.cluster, the env's first), its version
// (context.clusterVersion, and Helm's .Capabilities.KubeVersion; the
// defaults when unknown), the source's strict and, for a preview, the
// pull request (context.pullRequest).
func renderOptions(base render.Options, d *desiredApp, e appfile.Environment, kv kubeVersion) render.Options {
	opts := base
	opts.Cluster = firstOr(e.Clusters, "")
	opts.KubeVersion, opts.KubePlatform = kv.git, kv.platform
	if kv.git != "" {
		opts.Engines.KubeVersion = kv.git
	}
	opts.Strict = d.Strict
	opts.PullRequest = d.PullRequest
	return opts
}

// renderWarnings are what status shows of a render: its warnings, and
// that context.clusterVersion is the default when the cluster's version
// could not be read.
func renderWarnings(res *render.Result, kubeErr error) []string {
	ws := slices.Clone(res.Warnings)
	if kubeErr != nil {
		ws = append(ws, versionWarning(kubeErr))
	}
	return ws
}

// apply applies set to every cluster of the env and records the inputs
// and the source in each inventory, so that a restarted agent can take
// the fast path and collect orphans.
func (run *envRun) apply(ctx context.Context, clusters []string, set *apply.Set, inputs string) (map[string]string, error) {
	r, app, env := run.r, run.d.Name, run.env
	t0 := time.Now()
	defer func() { r.rec.Phase(app, env, metrics.PhaseApply, time.Since(t0)) }()
	changes := map[string]string{}
	counts := map[string]int{}
	var errs []error
	for _, c := range clusters {
		t, err := r.targets.get(c, run.as)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.drift.pause(c, app, env)
		cs, err := applyContained(ctx, t, set, applyOptions())
		err = r.plain.err(err)
		r.plain.changeSet(cs)
		if err != nil {
			r.drift.untrack(c, app, env)
		} else {
			r.drift.track(c, set, t)
		}
		if cs != nil {
			for _, en := range cs.Entries {
				changes[en.ID.String()] = string(en.Action)
				counts[string(en.Action)]++
			}
			r.events.changeSet(ctx, c, app, env, set, cs, err)
		}
		if err != nil {
			notePanic(run.log, r.rec, metrics.PanicApply, err)
			errs = append(errs, fmt.Errorf("cluster %s: %w", c, err))
			continue
		}
		if err := t.UpdateInventory(ctx, app, env, run.markInventory(inputs)); err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: %w", c, err))
		}
	}
	for _, act := range []string{metrics.ActionCreated, metrics.ActionConfigured, metrics.ActionUnchanged, metrics.ActionPruned} {
		r.rec.ApplyObjects(app, env, act, counts[act])
	}
	run.record.Changes = counts
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	r.store.setApplied(app, env, appliedState{ok: true, inputs: inputs, revision: run.record.Revision, digest: set.Digest,
		kubeVersion: run.kube.git, set: set.WithoutSecretValues()}, changes)
	return changes, nil
}

// markInventory records the inputs digest, the cluster version rendered
// for, the source (name and repository; see orphans) and a tenant's
// service account in an inventory.
func (run *envRun) markInventory(inputs string) func(*inventory.Inventory) error {
	return func(inv *inventory.Inventory) error {
		if inv.Extra == nil {
			inv.Extra = map[string]string{}
		}
		inv.Extra[extraInputs] = inputs
		if run.kube.git != "" {
			inv.Extra[extraKubeVersion] = run.kube.git
		} else {
			delete(inv.Extra, extraKubeVersion)
		}
		inv.Extra[extraSource] = run.d.Source
		if run.d.Repo != "" {
			inv.Extra[extraRepo] = run.d.Repo
		}
		delete(inv.Extra, extraServiceAccount)
		if run.as.tenant() {
			inv.Extra[extraServiceAccount] = run.as.serviceAccount
		}
		return nil
	}
}

// healthResult is the health of an env over its clusters: the rollup
// apply computed with the definitions' health policies, and the objects
// and components it came from.
type healthResult struct {
	health     api.Health
	objects    []ObjectHealth
	components []apply.ComponentHealth
}

// health reads the health of the applied objects once; a progressing env
// is looked at again shortly (the workflow's step timeout bounds it).
func (run *envRun) health(ctx context.Context, set *apply.Set, clusters []string, reason string) (time.Duration, error) {
	t0 := time.Now()
	status := health.Current
	var hr healthResult
	var errs []error
	for _, c := range clusters {
		t, err := run.r.targets.get(c, run.as)
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: health: %w", c, err))
			continue
		}
		rep, err := t.Health(ctx, set)
		err = run.r.plain.err(err)
		run.r.plain.health(rep)
		if rep != nil {
			status = health.Worst(status, rep.Status)
			hr.objects = append(hr.objects, rep.Objects...)
			hr.components = append(hr.components, rep.Components...)
		}
		if err != nil {
			notePanic(run.log, run.r.rec, metrics.PanicHealth, err)
			errs = append(errs, fmt.Errorf("cluster %s: health: %w", c, err))
		}
	}
	run.r.rec.Phase(run.d.Name, run.env, metrics.PhaseHealth, time.Since(t0))
	if err := errors.Join(errs...); err != nil {
		run.fail(err, "")
		return 0, err
	}
	hr.health = api.HealthOf(status)
	run.finish(metrics.ResultSuccess, reason, &hr)
	switch hr.health {
	case api.HealthHealthy:
		run.r.statuses.post(run.d, run.env, forge.StateSuccess, "applied and healthy")
	case api.HealthDegraded, api.HealthMissing:
		run.r.statuses.post(run.d, run.env, forge.StateFailure, "applied; "+strings.ToLower(string(hr.health)))
	default:
		run.r.statuses.post(run.d, run.env, forge.StatePending, "applied; waiting for health")
	}
	run.r.work.addWorkflow(run.d.Name)
	if hr.health == api.HealthProgressing || hr.health == api.HealthUnknown {
		return healthPoll, nil
	}
	return 0, nil
}

// correct re-applies the drifted objects of the last applied set, one
// forced apply each, without a render: the inputs did not change. A
// drifted Secret is the exception (see correctionSet). A failure is
// recorded (status Stalled) and returned for the backoff; the next
// reconcile then renders and applies the env again.
func (run *envRun) correct(ctx context.Context, e appfile.Environment, ob observation) error {
	t0 := time.Now()
	set, due, clusters := ob.set, ob.due, e.Clusters
	if set.Withheld() && dueWithheld(set, due) {
		var err error
		if set, err = run.correctionSet(ctx, e, ob); err != nil {
			err = fmt.Errorf("drift correction of %s in %s: %w", run.d.Name, run.env, err)
			run.fail(err, "")
			return err
		}
	}
	counts := map[string]int{}
	var failed []string
	for _, cluster := range slices.Sorted(maps.Keys(due)) {
		if err := run.correctCluster(ctx, cluster, set, due[cluster], clusters, counts); err != nil {
			failed = append(failed, fmt.Sprintf("cluster %s: %v", cluster, err))
		}
	}
	run.r.rec.Phase(run.d.Name, run.env, metrics.PhaseApply, time.Since(t0))
	run.record.Changes = counts
	if len(failed) > 0 {
		err := fmt.Errorf("drift correction of %s in %s: %s", run.d.Name, run.env, strings.Join(failed, "; "))
		run.fail(err, "")
		return err
	}
	return nil
}

// correctCluster corrects objects in one cluster and records what it
// did.
func (run *envRun) correctCluster(ctx context.Context, cluster string, set *apply.Set, objs []dueObject, clusters []string, counts map[string]int) error {
	r, app, env := run.r, run.d.Name, run.env
	t, err := r.targets.get(cluster, run.as)
	if err != nil {
		return err
	}
	c, ok := t.(Corrector)
	if !ok {
		return fmt.Errorf("cluster %s cannot correct drift", cluster)
	}
	ids := make([]apply.ID, len(objs))
	since := make(map[string]time.Time, len(objs))
	for i, o := range objs {
		ids[i], since[o.id.Key()] = o.id, o.since
	}
	cs, err := c.Correct(ctx, set, ids)
	err = r.plain.err(err)
	r.plain.changeSet(cs)
	if cs == nil {
		return err
	}
	dc := r.drift.corrected(app, env, cluster, cs, clusters)
	now := r.now()
	actions := map[string]string{}
	for _, en := range cs.Entries {
		t0, ok := since[en.ID.Key()]
		if !ok || en.Action == apply.Failed {
			continue
		}
		counts[string(en.Action)]++
		if en.Action == apply.Created || en.Action == apply.Configured {
			r.rec.DriftCorrected(app, env, cluster, en.ID.Kind, now.Sub(t0))
			actions[en.ID.String()] = string(en.Action)
		}
	}
	r.store.correctedActions(app, env, actions)
	r.rec.DriftObjects(app, env, cluster, dc[0], dc[1])
	r.events.driftCorrected(ctx, cluster, app, env, set, cs, err)
	return err
}

// fail records a failed reconcile: the last applied state stays, the
// status says Stalled with the sanitized error. terminalInputs names the
// inputs not to try again ("" for a transient error).
func (run *envRun) fail(err error, terminalInputs string) {
	es := sanitize(err, run.r.now())
	run.r.statuses.post(run.d, run.env, forge.StateFailure, statusReason(err, es.Message, run.r.plain.text))
	run.r.store.fail(run.d.Name, run.env, es, terminalInputs)
	run.record.Error = es.Message
	run.finish(metrics.ResultError, "failed", nil)
	if terminalInputs != "" {
		run.log.Warn("reconcile failed; not retried until the inputs change", "reconcile", run.id, "error", es.Message)
	} else {
		run.log.Warn("reconcile failed", "reconcile", run.id, "error", es.Message)
	}
	run.r.work.addWorkflow(run.d.Name)
}

// renderFailedEvent posts a RenderFailed Warning Event in each cluster
// of e, with the sanitized error, unless the env's last error says the
// same already (a retry of the same failure posts nothing new).
func (run *envRun) renderFailedEvent(ctx context.Context, e appfile.Environment, err error) {
	msg := run.r.plain.text(sanitize(err, run.r.now()).Message)
	if last := run.r.store.view(run.d.Name, run.env).lastError; last != nil && last.Message == msg {
		return
	}
	ns := cmp.Or(e.Namespace, run.d.App.Namespace, "default")
	for _, c := range e.Clusters {
		run.r.events.post(ctx, c, Event{App: run.d.Name, Env: run.env, Namespace: ns, Type: corev1.EventTypeWarning,
			Reason: "RenderFailed", Message: fmt.Sprintf("revision %s: %s", shortRev(run.d.Snapshot.Commit), msg)})
	}
}

// finish records the reconcile in status, history and metrics.
func (run *envRun) finish(result, reason string, h *healthResult) {
	r, app, env := run.r, run.d.Name, run.env
	now := r.now()
	run.record.Duration, run.record.Result, run.record.Reason = now.Sub(run.start), result, reason
	clusters, rev, hl, sync := r.store.finish(app, env, now, run.record, h)
	r.rec.Reconcile(app, env, result)
	for _, c := range clusters {
		r.rec.AppInfo(app, env, c, rev, string(hl), string(sync))
	}
	if result != metrics.ResultSkipped || reason != "unchanged" {
		run.log.Debug("reconcile finished", "reconcile", run.id, "result", result, "reason", reason, "revision", run.record.Revision, "duration", run.record.Duration)
	}
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}
