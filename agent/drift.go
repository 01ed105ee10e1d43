package agent

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
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

// driftBook is the drift bookkeeping: the watchers (one per cluster),
// the findings of every (app, env), the contests, and which corrections
// are due. It decides; the reconciler corrects.
type driftBook struct {
	cfg    config.Drift
	log    *slog.Logger
	rec    *metrics.Recorder
	now    func() time.Time
	store  *statusStore
	events *eventRecorder
	work   *workers
	// redact removes decrypted values from an error (plaintexts.err); a
	// dry-run may quote an invalid value back.
	redact func(error) error

	// watchers are built by build and run while this replica leads;
	// they do not change afterwards.
	watchers map[string]*drift.Watcher
	contests *drift.Contests

	mu       sync.Mutex
	findings map[envKey]map[string]*driftEntry // by drift.Finding.Key
	// recheck are the envs whose objects' health moved since their
	// health was last read (onHealth); their next reconcile reads it.
	recheck map[envKey]bool
}

func newDriftBook(cfg config.Drift) *driftBook {
	return &driftBook{cfg: cfg, watchers: map[string]*drift.Watcher{}, contests: drift.NewContests(contestOptions(cfg)),
		findings: map[envKey]map[string]*driftEntry{}, recheck: map[envKey]bool{}}
}

// build makes a drift watcher for every cluster whose target can
// correct.
func (b *driftBook) build(rcs map[string]*rest.Config, targets map[string]Target) error {
	if !b.cfg.On() {
		return nil
	}
	for name, rc := range rcs {
		c, ok := targets[name].(Corrector)
		if !ok {
			continue
		}
		dyn, err := dynamic.NewForConfig(rc)
		if err != nil {
			return fmt.Errorf("cluster %s: drift watch: %w", name, err)
		}
		opts := drift.DefaultOptions()
		opts.Cluster, opts.Now, opts.OnFinding, opts.OnHealth = name, b.now, b.onFinding, b.onHealth
		if b.cfg.Workers > 0 {
			opts.Workers = b.cfg.Workers
		}
		opts.OnError = func(err error) {
			if b.redact != nil {
				err = b.redact(err)
			}
			notePanic(b.log.With("cluster", name), b.rec, metrics.PanicDrift, err)
			b.log.Warn("drift watch failed", "cluster", name, "error", sanitize(err, time.Time{}).Message)
		}
		b.watchers[name] = drift.NewWatcher(dyn, c, opts)
	}
	return nil
}

// contestOptions are the configured contest bounds; unset ones (a
// Config built in code) keep drift's defaults.
func contestOptions(d config.Drift) drift.ContestOptions {
	o := drift.DefaultContestOptions()
	o.Corrections = cmp.Or(d.ContestCorrections, o.Corrections)
	o.Window = cmp.Or(d.ContestWindow, o.Window)
	o.Backoff = cmp.Or(d.ContestBackoff, o.Backoff)
	o.MaxBackoff = cmp.Or(d.ContestMaxBackoff, o.MaxBackoff)
	return o
}

// run runs the watchers until ctx ends.
func (b *driftBook) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, w := range b.watchers {
		wg.Go(func() { w.Run(ctx) })
	}
	wg.Wait()
}

// pause holds findings of (app, env) in cluster while an apply runs.
func (b *driftBook) pause(cluster, app, env string) {
	if w := b.watchers[cluster]; w != nil {
		w.Pause(app, env)
	}
}

// hold holds the findings of (app, env) in clusters until track says
// what the intent is (or forgets it).
func (b *driftBook) hold(app, env string, clusters []string) {
	for _, c := range clusters {
		b.pause(c, app, env)
	}
}

// track makes set, applied through t, the intent the watcher of cluster
// compares with; t (a tenant's Target, for one) also confirms the
// drift of its objects with the server.
func (b *driftBook) track(cluster string, set *apply.Set, t Target) {
	w := b.watchers[cluster]
	if w == nil {
		return
	}
	c, _ := t.(drift.Comparer) // nil: the watcher's own
	if err := w.Track(set, c); err != nil {
		b.log.Warn("drift watch incomplete", "app", set.App, "env", set.Env, "cluster", cluster, "error", sanitize(err, time.Time{}).Message)
	}
}

// untrack forgets the intent of (app, env) in cluster (a failed apply,
// a removal) until the next track.
func (b *driftBook) untrack(cluster, app, env string) {
	if w := b.watchers[cluster]; w != nil {
		w.Forget(app, env)
	}
}

// forgetClusters drops the intent and findings of (app, env) in
// clusters its environment no longer names.
func (b *driftBook) forgetClusters(app, env string, clusters ...string) {
	for _, c := range clusters {
		b.untrack(c, app, env)
	}
	b.mu.Lock()
	maps.DeleteFunc(b.findings[envKey{app, env}], func(_ string, e *driftEntry) bool { return slices.Contains(clusters, e.f.Cluster) })
	b.mu.Unlock()
	for _, c := range clusters {
		b.rec.DriftObjects(app, env, c, 0, 0)
	}
}

// forgetEnv drops the intent and findings of (app, env) everywhere.
func (b *driftBook) forgetEnv(app, env string, clusters []string) {
	for _, c := range clusters {
		b.untrack(c, app, env)
	}
	b.dropFindings(app, env)
}

// onHealth: the health of an object of (app, env) moved after it was
// read (a rollout that failed later, a pod that stopped, a degraded
// object that recovered). The next reconcile reads the env's health
// again instead of taking the fast path.
func (b *driftBook) onHealth(app, env string) {
	if !b.store.view(app, env).known {
		return
	}
	b.mu.Lock()
	b.recheck[envKey{app, env}] = true
	b.mu.Unlock()
	b.log.Debug("health of an object moved", "app", app, "env", env)
	b.work.addEnv(app, env)
}

// takeRecheck reports and clears a health recheck of (app, env).
func (b *driftBook) takeRecheck(app, env string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := envKey{app, env}
	r := b.recheck[k]
	delete(b.recheck, k)
	return r
}

// dropFindings forgets the findings of (app, env), whose status starts
// over or ends.
func (b *driftBook) dropFindings(app, env string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.findings, envKey{app, env})
}

// onFinding takes a finding of a watcher: it records it, counts it, and
// decides: correct now (queue the env), hold off a contested object, or
// only report. Findings of envs the status does not know are dropped.
func (b *driftBook) onFinding(ctx context.Context, f drift.Finding) {
	v := b.store.view(f.App, f.Env)
	if !v.known {
		return
	}
	now := b.now()
	k := envKey{f.App, f.Env}
	b.mu.Lock()
	if b.findings[k] == nil {
		b.findings[k] = map[string]*driftEntry{}
	}
	entries := b.findings[k]
	e := entries[f.Key()]
	var retry time.Duration
	queue := false
	switch {
	case f.Reason == drift.Resolved:
		delete(entries, f.Key())
	default:
		if e == nil || e.f.Reason != f.Reason {
			b.rec.DriftDetected(f.App, f.Env, f.Cluster, f.ID.Kind, string(f.Reason))
		}
		if e == nil {
			e = &driftEntry{since: f.Seen}
			entries[f.Key()] = e
		}
		e.f = f
		e.state, e.retryAt = b.decide(f, now)
		queue = e.state == api.DriftCorrecting
		if e.state == api.DriftContested {
			retry = e.retryAt.Sub(now)
		}
	}
	counts := driftCounts(entries, v.clusters)
	var left string
	if e != nil && f.Reason != drift.Resolved && (e.state == api.DriftReported || e.state == api.DriftContested) {
		left = fmt.Sprintf("%s%s (%s): %s", f.Reason, inKeys(f.Keys), strings.ToLower(string(e.state)), driftHint(e))
	}
	b.mu.Unlock()
	for c, n := range counts {
		b.rec.DriftObjects(f.App, f.Env, c, n[0], n[1])
	}
	attrs := []any{"app", f.App, "env", f.Env, "cluster", f.Cluster, "object", f.ID.String(), "reason", string(f.Reason), "mode", string(f.Mode)}
	if len(f.Keys) > 0 {
		attrs = append(attrs, "keys", strings.Join(f.Keys, ","))
	}
	b.log.Info("drift", attrs...)
	if left != "" {
		b.events.driftLeft(ctx, f.Cluster, f.App, f.Env, cmp.Or(f.ID.Namespace, v.namespace), f.ID.String(), left)
	}
	switch {
	case queue:
		b.work.addEnv(f.App, f.Env)
	case retry > 0:
		b.work.addEnvAfter(f.App, f.Env, retry)
	}
}

// inKeys names the Secret keys whose values drifted, for a message.
func inKeys(keys []string) string {
	if len(keys) == 0 {
		return ""
	}
	return " in keys " + strings.Join(keys, ", ")
}

// driftHint says what happens next to a drifted object left alone.
func driftHint(e *driftEntry) string {
	if e.state == api.DriftContested {
		return "another writer keeps changing it; corrected again at " + e.retryAt.UTC().Format(time.RFC3339)
	}
	return "the drift policy only reports it"
}

// decide: report mode reports; correct mode corrects unless the object
// is contested.
func (b *driftBook) decide(f drift.Finding, now time.Time) (api.DriftState, time.Time) {
	if f.Mode == apply.DriftReport {
		return api.DriftReported, time.Time{}
	}
	d := b.contests.Decide(f.App+"/"+f.Env+"/"+f.Key(), now)
	if d.State == drift.Contested {
		return api.DriftContested, d.RetryAt
	}
	return api.DriftCorrecting, time.Time{}
}

// driftCounts counts drifted and contested objects per cluster, every
// cluster of the env included (with zeros).
func driftCounts(entries map[string]*driftEntry, clusters []string) map[string][2]int {
	out := map[string][2]int{}
	for _, c := range clusters {
		out[c] = [2]int{}
	}
	for _, d := range entries {
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

// dueObject is a drifted object to correct, and since when it drifted.
type dueObject struct {
	id    apply.ID
	since time.Time
}

// due returns, by cluster, the drifted objects of (app, env) to correct
// now: those found drifted in correct mode, and contested ones whose
// hold-off is over (if the contest allows it now).
func (b *driftBook) due(app, env string, now time.Time) map[string][]dueObject {
	b.mu.Lock()
	defer b.mu.Unlock()
	entries := b.findings[envKey{app, env}]
	var out map[string][]dueObject
	for _, k := range slices.Sorted(maps.Keys(entries)) {
		e := entries[k]
		if e.state == api.DriftContested && !now.Before(e.retryAt) {
			e.state, e.retryAt = b.decide(e.f, now)
		}
		if e.state != api.DriftCorrecting {
			continue
		}
		if out == nil {
			out = map[string][]dueObject{}
		}
		out[e.f.Cluster] = append(out[e.f.Cluster], dueObject{id: e.f.ID, since: e.since})
	}
	return out
}

// corrected records what a correction in cluster did: the objects it
// wrote or found unchanged leave the findings (the watcher may have
// seen them back already). It returns the cluster's counts.
func (b *driftBook) corrected(app, env, cluster string, cs *apply.ChangeSet, clusters []string) [2]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	entries := b.findings[envKey{app, env}]
	for _, en := range cs.Entries {
		if en.Action != apply.Failed {
			delete(entries, drift.Finding{Cluster: cluster, ID: en.ID}.Key())
		}
	}
	return driftCounts(entries, clusters)[cluster]
}

// statuses lists the drifted objects of an env for the API.
func (b *driftBook) statuses(app, env string) []api.DriftStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	entries := b.findings[envKey{app, env}]
	var out []api.DriftStatus
	for _, k := range slices.Sorted(maps.Keys(entries)) {
		d := entries[k]
		out = append(out, api.DriftStatus{Cluster: d.f.Cluster, Component: d.f.Component, Kind: d.f.ID.Kind,
			Namespace: d.f.ID.Namespace, Name: d.f.ID.Name, Reason: string(d.f.Reason), Keys: d.f.Keys, State: d.state,
			Since: d.since, RetryAt: d.retryAt})
	}
	return out
}
