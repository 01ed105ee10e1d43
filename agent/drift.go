package agent

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/agent/metrics"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/drift"
)

// Corrector is what drift correction needs of a cluster beyond Target:
// the drift watcher's comparisons and the correction itself.
// *apply.Manager implements it.
type Corrector interface {
	drift.Comparer
	Correct(ctx context.Context, set *apply.Set, ids []apply.ID) (*apply.ChangeSet, error)
}

var _ Corrector = (*apply.Manager)(nil)

// driftEntry is one drifted object of an (app, env).
type driftEntry struct {
	f       drift.Finding
	since   time.Time
	state   api.DriftState
	retryAt time.Time
}

// buildWatchers makes a drift watcher for every cluster whose target can
// correct; they run while this replica leads.
func (a *Agent) buildWatchers(rcs map[string]*rest.Config) error {
	a.watchers = map[string]*drift.Watcher{}
	if !a.cfg.Drift.On() {
		return nil
	}
	for name, rc := range rcs {
		c, ok := a.targets[name].(Corrector)
		if !ok {
			continue
		}
		dyn, err := dynamic.NewForConfig(rc)
		if err != nil {
			return fmt.Errorf("cluster %s: drift watch: %w", name, err)
		}
		opts := drift.DefaultOptions()
		opts.Cluster, opts.Now, opts.OnFinding = name, a.now, a.onDrift
		if a.cfg.Drift.Workers > 0 {
			opts.Workers = a.cfg.Drift.Workers
		}
		opts.OnError = func(err error) {
			a.log.Warn("drift watch failed", "cluster", name, "error", sanitize(err, time.Time{}).Message)
		}
		a.watchers[name] = drift.NewWatcher(dyn, c, opts)
	}
	return nil
}

// contestOptions are the configured contest bounds; unset ones (a
// Config built in code) keep drift's defaults.
func contestOptions(d config.Drift) drift.ContestOptions {
	o := drift.DefaultContestOptions()
	if d.ContestCorrections > 0 {
		o.Corrections = d.ContestCorrections
	}
	if d.ContestWindow > 0 {
		o.Window = d.ContestWindow
	}
	if d.ContestBackoff > 0 {
		o.Backoff = d.ContestBackoff
	}
	if d.ContestMaxBackoff > 0 {
		o.MaxBackoff = d.ContestMaxBackoff
	}
	return o
}

// runWatchers runs the drift watchers until ctx ends.
func (a *Agent) runWatchers(ctx context.Context) {
	done := make(chan struct{}, len(a.watchers))
	for _, w := range a.watchers {
		go func() { w.Run(ctx); done <- struct{}{} }()
	}
	for range a.watchers {
		<-done
	}
}

// driftPause holds drift findings of (app, env) in cluster while an
// apply runs.
func (a *Agent) driftPause(cluster, app, env string) {
	if w := a.watchers[cluster]; w != nil {
		w.Pause(app, env)
	}
}

// driftTrack makes set the intent the watcher of cluster compares with;
// a nil set (a failed apply) forgets the intent until the next success.
func (a *Agent) driftTrack(cluster, app, env string, set *apply.Set) {
	w := a.watchers[cluster]
	switch {
	case w == nil:
	case set == nil:
		w.Forget(app, env)
	default:
		if err := w.Track(set); err != nil {
			a.log.Warn("drift watch incomplete", "app", app, "env", env, "cluster", cluster, "error", sanitize(err, time.Time{}).Message)
		}
	}
}

// onDrift takes a finding of a watcher: it records it, counts it, and
// decides: correct now (queue the env), hold off a contested object, or
// only report.
func (a *Agent) onDrift(ctx context.Context, f drift.Finding) {
	now := a.now()
	s := a.store
	s.mu.Lock()
	ar, ok := s.apps[f.App]
	if !ok || ar.envs[f.Env] == nil {
		s.mu.Unlock()
		return
	}
	er := ar.envs[f.Env]
	key := f.Key()
	e := er.drift[key]
	var retry time.Duration
	queue := false
	switch {
	case f.Reason == drift.Resolved:
		delete(er.drift, key)
	default:
		if e == nil || e.f.Reason != f.Reason {
			a.rec.DriftDetected(f.App, f.Env, f.Cluster, f.ID.Kind, string(f.Reason))
		}
		if e == nil {
			e = &driftEntry{since: f.Seen}
			er.drift[key] = e
		}
		e.f = f
		switch d := a.decideDrift(f, now); d.State {
		case api.DriftCorrecting:
			e.state, queue = d.State, true
		case api.DriftContested:
			e.state, e.retryAt = d.State, d.RetryAt
			retry = d.RetryAt.Sub(now)
		default:
			e.state = d.State
		}
	}
	counts := er.driftCounts()
	var left string
	if e != nil && f.Reason != drift.Resolved && (e.state == api.DriftReported || e.state == api.DriftContested) {
		left = fmt.Sprintf("%s (%s): %s", f.Reason, strings.ToLower(string(e.state)), driftHint(e))
	}
	ns := er.namespace
	s.mu.Unlock()
	for c, n := range counts {
		a.rec.DriftObjects(f.App, f.Env, c, n[0], n[1])
	}
	a.log.Info("drift", "app", f.App, "env", f.Env, "cluster", f.Cluster, "object", f.ID.String(), "reason", string(f.Reason), "mode", string(f.Mode))
	if left != "" {
		a.events.driftLeft(ctx, f.Cluster, f.App, f.Env, cmp.Or(f.ID.Namespace, ns), f.ID.String(), left)
	}
	switch {
	case queue:
		a.queue.Add(item{App: f.App, Env: f.Env})
	case retry > 0:
		a.queue.AddAfter(item{App: f.App, Env: f.Env}, retry)
	}
}

// driftHint says what happens next to a drifted object left alone.
func driftHint(e *driftEntry) string {
	if e.state == api.DriftContested {
		return "another writer keeps changing it; corrected again at " + e.retryAt.UTC().Format(time.RFC3339)
	}
	return "the drift policy only reports it"
}

// driftDecision is what to do about one drifted object.
type driftDecision struct {
	State   api.DriftState
	RetryAt time.Time
}

// decideDrift: report mode reports; correct mode corrects unless the
// object is contested.
func (a *Agent) decideDrift(f drift.Finding, now time.Time) driftDecision {
	if f.Mode == apply.DriftReport {
		return driftDecision{State: api.DriftReported}
	}
	d := a.contests.Decide(f.App+"/"+f.Env+"/"+f.Key(), now)
	if d.State == drift.Contested {
		return driftDecision{State: api.DriftContested, RetryAt: d.RetryAt}
	}
	return driftDecision{State: api.DriftCorrecting}
}

// driftCounts counts drifted and contested objects per cluster, every
// cluster of the env included (with zeros). Call with the store locked.
func (e *envRecord) driftCounts() map[string][2]int {
	out := map[string][2]int{}
	for _, c := range e.clusters {
		out[c] = [2]int{}
	}
	for _, d := range e.drift {
		n := out[d.f.Cluster]
		if d.state == api.DriftContested {
			n[1]++
		} else {
			n[0]++
		}
		out[d.f.Cluster] = n
	}
	return out
}

// dueCorrections returns, by cluster, the drifted objects to correct
// now: those found drifted in correct mode, and contested ones whose
// hold-off is over (if the contest allows it now). Call with the store
// locked.
func (a *Agent) dueCorrections(app, env string, er *envRecord, now time.Time) map[string][]*driftEntry {
	var out map[string][]*driftEntry
	for _, k := range slices.Sorted(maps.Keys(er.drift)) {
		e := er.drift[k]
		if e.state == api.DriftContested && !now.Before(e.retryAt) {
			d := a.decideDrift(e.f, now)
			e.state, e.retryAt = d.State, d.RetryAt
		}
		if e.state != api.DriftCorrecting {
			continue
		}
		if out == nil {
			out = map[string][]*driftEntry{}
		}
		out[e.f.Cluster] = append(out[e.f.Cluster], e)
	}
	return out
}

// correct re-applies the drifted objects of the last applied set, one
// forced apply each, without a render: the inputs did not change. A
// failure is recorded (status Stalled) and returned for the backoff.
func (r *envRun) correct(ctx context.Context, set *apply.Set, due map[string][]*driftEntry) error {
	t0 := time.Now()
	counts := map[string]int{}
	var failed []string
	for _, cluster := range slices.Sorted(maps.Keys(due)) {
		if err := r.correctCluster(ctx, cluster, set, due[cluster], counts); err != nil {
			failed = append(failed, fmt.Sprintf("cluster %s: %v", cluster, err))
		}
	}
	r.a.rec.Phase(r.app, r.env, metrics.PhaseApply, time.Since(t0))
	r.record.Changes = counts
	if len(failed) > 0 {
		err := fmt.Errorf("drift correction of %s in %s: %s", r.app, r.env, strings.Join(failed, "; "))
		r.fail(err)
		return err
	}
	return nil
}

// correctCluster corrects entries in one cluster and records what it did.
func (r *envRun) correctCluster(ctx context.Context, cluster string, set *apply.Set, entries []*driftEntry, counts map[string]int) error {
	t, err := r.a.target(cluster)
	if err != nil {
		return err
	}
	c, ok := t.(Corrector)
	if !ok {
		return fmt.Errorf("cluster %s cannot correct drift", cluster)
	}
	ids := make([]apply.ID, len(entries))
	byID := make(map[string]*driftEntry, len(entries))
	for i, e := range entries {
		ids[i] = e.f.ID
		byID[e.f.ID.Key()] = e
	}
	cs, err := c.Correct(ctx, set, ids)
	if cs == nil {
		return err
	}
	now := r.a.now()
	s := r.a.store
	s.mu.Lock()
	er := s.app(r.app).env(r.env)
	for _, en := range cs.Entries {
		e := byID[en.ID.Key()]
		if e == nil || en.Action == apply.Failed {
			continue
		}
		counts[string(en.Action)]++
		if en.Action == apply.Created || en.Action == apply.Configured {
			r.a.rec.DriftCorrected(r.app, r.env, cluster, en.ID.Kind, now.Sub(e.since))
			er.actions[en.ID.String()] = string(en.Action)
		}
		delete(er.drift, e.f.Key())
	}
	dc := er.driftCounts()[cluster]
	s.mu.Unlock()
	r.a.rec.DriftObjects(r.app, r.env, cluster, dc[0], dc[1])
	r.a.events.driftCorrected(ctx, cluster, r.app, r.env, set, cs, err)
	return err
}

// driftStatuses lists the drifted objects of an env for the API. Call
// with the store locked.
func (e *envRecord) driftStatuses() []api.DriftStatus {
	var out []api.DriftStatus
	for _, k := range slices.Sorted(maps.Keys(e.drift)) {
		d := e.drift[k]
		out = append(out, api.DriftStatus{Cluster: d.f.Cluster, Component: d.f.Component, Kind: d.f.ID.Kind,
			Namespace: d.f.ID.Namespace, Name: d.f.ID.Name, Reason: string(d.f.Reason), State: d.state,
			Since: d.since, RetryAt: d.retryAt})
	}
	return out
}
