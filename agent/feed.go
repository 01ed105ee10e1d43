package agent

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/agent/metrics"
	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/source"
	"github.com/carina-gitops/carina/source/oci"
)

// feed turns polls into desired state: it runs a poller per source,
// hands new snapshots to the catalog, and acts on what each load
// changed (queue items, removals, status of broken or held apps).
type feed struct {
	cfg      *config.Config
	log      *slog.Logger
	rec      *metrics.Recorder
	now      func() time.Time
	fetcher  *source.Fetcher
	oci      *oci.Fetcher
	catalog  *catalog
	store    *statusStore
	removals *removals
	drift    *driftBook
	driver   *driver
	orphans  *orphans
	work     *workers
	events   *eventRecorder

	// snapped: every source has had a snapshot (readiness).
	snapped atomic.Bool
}

// start builds a poller per source and runs each until ctx ends.
func (f *feed) start(ctx context.Context, wg *sync.WaitGroup) error {
	add := func(s config.Source, capability bool) error {
		p, err := newSnapshotPoller(f.fetcher, f.oci, s, f.cfg.Reconcile.PollInterval)
		if err != nil {
			return err
		}
		st := &sourceState{cfg: s, capability: capability, poller: p, wake: make(chan struct{}, 1)}
		f.catalog.addSource(st)
		f.rec.InitSource(s.Name)
		wg.Go(func() { f.pollLoop(ctx, st) })
		return nil
	}
	for _, s := range f.cfg.Sources.Capabilities {
		if err := add(s, true); err != nil {
			return err
		}
	}
	for _, s := range f.cfg.Sources.Apps {
		if err := add(s, false); err != nil {
			return err
		}
	}
	return nil
}

// prepareAfter is how long a source's poller stays idle after a new
// snapshot before it copies the snapshot's tree for the next download to
// patch: long enough to leave the CPU to rendering and applying the new
// snapshot first.
const prepareAfter = 2 * time.Second

// pollLoop polls one source on its interval, at once when woken, and
// with the poller's backoff after failures. Once idle for prepareAfter
// after a new snapshot, it readies the next poll (preparer).
func (f *feed) pollLoop(ctx context.Context, st *sourceState) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	prep := time.NewTimer(prepareAfter)
	prep.Stop() // armed after a new snapshot
	defer prep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-prep.C:
			if p, ok := st.poller.(preparer); ok {
				if err := p.Prepare(ctx); err != nil && ctx.Err() == nil {
					f.log.Debug("preparing the next fetch failed", "source", st.cfg.Name, "error", sanitize(err, f.now()).Message)
				}
			}
			continue
		case <-timer.C:
		case <-st.wake:
		}
		prep.Stop()
		t0 := time.Now()
		u := st.poller.Poll(ctx)
		if ctx.Err() != nil {
			return
		}
		result := metrics.ResultSuccess
		if u.Kind == source.UpdateFailed {
			result = metrics.ResultError
		}
		f.rec.Fetch(st.cfg.Name, result, time.Since(t0))
		f.onUpdate(ctx, st, u)
		timer.Reset(u.RetryIn)
		if u.Kind != source.UpdateFailed && u.Kind != source.UpdateUnchanged {
			prep.Reset(prepareAfter)
		}
	}
}

// onUpdate turns a poll into desired state.
func (f *feed) onUpdate(ctx context.Context, st *sourceState, u source.Update) {
	log := f.log.With("source", st.cfg.Name)
	switch u.Kind {
	case source.UpdateUnchanged:
		if f.catalog.takeReload(st) {
			f.loadSource(ctx, st)
		}
		f.orphans.collectAll(ctx)
		return
	case source.UpdateFailed:
		es := sanitize(u.Err, f.now())
		log.Warn("source fetch failed", "error", es.Message, "failures", u.Failures, "retry_in", u.RetryIn)
		f.catalog.setFetchError(st, es)
		f.store.setAppError(f.catalog.appsOf(st), es, true)
		return
	case source.UpdateRecovered:
		log.Info("source recovered", "revision", u.Snapshot.Revision())
		f.catalog.setFetchError(st, nil)
		f.store.setAppError(f.catalog.appsOf(st), nil, true)
		return
	}
	f.catalog.setFetchError(st, nil)
	log.Info("source revision", "revision", u.Snapshot.Revision(), "kind", string(u.Kind))
	f.rec.SourceRevision(st.cfg.Name, u.Snapshot.Revision())
	appSrcs := f.catalog.setSnapshot(st, u.Snapshot)
	if u.Kind == source.UpdateRewritten {
		f.reportRewrite(ctx, st, u, appSrcs)
	}
	f.store.setAppError(f.catalog.appsOf(st), nil, true)
	for _, s := range appSrcs {
		f.loadSource(ctx, s)
	}
	if f.catalog.hasAllSnapshots() {
		f.snapped.Store(true)
	}
}

// loadSource reads the apps of an app source's snapshot and replaces the
// source's desired state. When the load fails as a whole the last good
// state stays; a broken file only keeps its own apps at their last good
// state. A load without broken files lets the restart's orphan
// collection run.
func (f *feed) loadSource(ctx context.Context, st *sourceState) {
	st.loadMu.Lock()
	defer st.loadMu.Unlock()
	l, snap, err := f.catalog.load(ctx, st)
	if err != nil {
		es := sanitize(err, f.now())
		f.log.Warn("applications cannot be loaded", "source", st.cfg.Name, "revision", snap.Revision(), "error", es.Message)
		var list appfile.ErrorList
		if !asList(err, &list) || !f.markBroken(st, list, es.Time) {
			f.store.setAppError(f.catalog.appsOf(st), es, true)
		}
		return
	}
	if l.gone != "" {
		f.log.Warn("the source's path is not in its snapshot", "source", st.cfg.Name, "revision", l.snap.Revision(), "path", l.gone)
	}
	f.take(ctx, st, l)
	if len(l.errs) > 0 {
		es := sanitize(l.errs, f.now())
		f.log.Warn("application files cannot be loaded", "source", st.cfg.Name, "revision", l.snap.Revision(),
			"files", slices.Sorted(maps.Keys(l.broken)), "error", es.Message)
		if !f.markBroken(st, l.errs, es.Time) {
			f.log.Warn("broken application files define no known application", "source", st.cfg.Name)
		}
	}
	f.orphans.collectAll(ctx)
}

// take makes a load the desired state of its source and acts on what
// changed.
func (f *feed) take(ctx context.Context, st *sourceState, l *loaded) {
	ch := f.catalog.replace(st, l)
	if ch.clean {
		ch.released = f.removals.releaseHeld(st.cfg.Name)
	}
	for _, k := range ch.resets {
		f.resetEnv(k.app, k.env)
	}
	for _, d := range f.store.updateApps(ch.kept) {
		for _, e := range d.Envs {
			f.rec.InitApp(d.Name, e.Name, e.Clusters...)
		}
	}
	f.apply(ctx, st, ch)
}

// markBroken sets the errors of list on the apps of st whose files they
// name, and reports whether there was any.
func (f *feed) markBroken(st *sourceState, list appfile.ErrorList, at time.Time) bool {
	hit := false
	for _, name := range f.catalog.appsOf(st) {
		file, _, _ := strings.Cut(f.store.appFile(name), ":")
		var mine appfile.ErrorList
		for _, e := range list {
			if file != "" && e.Pos.File == file {
				mine = append(mine, e)
			}
		}
		if len(mine) > 0 {
			hit = true
			f.store.setAppError([]string{name}, sanitize(mine, at), true)
		}
	}
	return hit
}

// apply acts on a load's change outside the catalog's lock: removals,
// status of held apps, reloads of sources taking apps over, and the
// queue.
func (f *feed) apply(ctx context.Context, st *sourceState, ch *catalogChange) {
	log := f.log.With("source", st.cfg.Name, "revision", st.loadedRev)
	for _, c := range ch.conflicts {
		log.Warn("application is defined by two sources", "app", c.app, "other", c.other)
	}
	if ch.lifted != nil {
		f.liftHold(st, ch.lifted)
	}
	if ch.hold != nil {
		f.reportHold(ctx, st, ch.hold)
	}
	rms := f.appRemovals(st, ch, log)
	rms = append(rms, f.clusterRemovals(st, ch, log)...)
	f.removals.add(st.cfg.Name, rms)
	for _, k := range ch.released {
		log.Info("clusters removed from an environment; pruning now that the source loads", "app", k.app, "env", k.env)
		f.work.addRemoval(k.app, k.env)
	}
	for _, name := range ch.held {
		log.Warn("application absent from a snapshot with broken files; removal held", "app", name)
		f.store.setAppError([]string{name}, &api.ErrorStatus{Time: f.now(), Message: fmt.Sprintf(
			"absent from source %s at %s, which has broken application files: not removed until they load", st.cfg.Name, st.loadedRev)}, false)
	}
	for i, name := range ch.moved {
		other := ch.reloads[i]
		log.Info("application moved to another source", "app", name, "other", other.cfg.Name)
		f.catalog.requestReload(other)
	}
	for _, name := range ch.queueApps {
		f.work.addWorkflow(name)
	}
	for _, k := range ch.queueEnvs {
		f.work.addEnv(k.app, k.env)
	}
}

// reportHold tells of a prune the mass-deletion guard holds: a log
// line, the metric, the error of each held app, and a PruneHeld Event
// in each of its environments.
func (f *feed) reportHold(ctx context.Context, st *sourceState, h *pruneHold) {
	src := st.cfg.Name
	msg := h.message(src)
	f.log.Warn("prune held by the mass-deletion guard", "source", src, "revision", h.revision,
		"deployments", h.gone, "of", h.total, "apps", h.apps, "orphans", h.orphans)
	f.rec.PruneHeld(src, len(h.apps))
	es := &api.ErrorStatus{Time: f.now(), Message: h.appMessage(src)}
	for _, name := range h.apps {
		f.store.setAppError([]string{name}, es, false)
		if d := f.catalog.app(name); d != nil {
			f.events.appWarning(ctx, d, "PruneHeld", msg)
		}
	}
}

// liftHold ends the report of a hold that a load or a confirmation
// lifted.
func (f *feed) liftHold(st *sourceState, h *pruneHold) {
	f.log.Info("mass-deletion guard lifted", "source", st.cfg.Name, "revision", h.revision)
	f.rec.PruneHeld(st.cfg.Name, 0)
	f.store.setAppError(h.apps, nil, false)
}

// appRemovals turns the apps and environments that left the source into
// removals, or forgets them when the source sets prune: false.
func (f *feed) appRemovals(st *sourceState, ch *catalogChange, log *slog.Logger) []*removal {
	var rms []*removal
	for _, d := range ch.gone {
		if !st.cfg.Prunes() {
			f.forgetApp(d)
			log.Info("application removed from its source; its objects stay (prune: false)", "app", d.Name)
			continue
		}
		log.Info("application removed from its source; pruning", "app", d.Name)
		for _, e := range d.Envs {
			rms = append(rms, &removal{app: d.Name, env: e.Name, source: st.cfg.Name, revision: st.loadedRev, whole: true, clusters: e.Clusters, as: identityOf(e)})
		}
	}
	for _, g := range ch.envsGone {
		if !st.cfg.Prunes() {
			f.forgetEnv(g.app, g.env, g.clusters)
			log.Info("environment removed from its application; its objects stay (prune: false)", "app", g.app, "env", g.env)
			continue
		}
		log.Info("environment removed from its application; pruning", "app", g.app, "env", g.env)
		rms = append(rms, &removal{app: g.app, env: g.env, source: st.cfg.Name, revision: st.loadedRev, clusters: g.clusters, as: g.as})
	}
	return rms
}

// clusterRemovals turns the clusters that left environments still in
// their app into removals that leave the environments' status alone. The
// drift intent there is forgotten at once: Git no longer wants the
// objects there, whatever happens to them. A load with broken files only
// holds the removal; prune: false only forgets.
func (f *feed) clusterRemovals(st *sourceState, ch *catalogChange, log *slog.Logger) []*removal {
	var rms []*removal
	for _, g := range ch.clustersGone {
		f.drift.forgetClusters(g.app, g.env, g.clusters...)
		rm := &removal{app: g.app, env: g.env, source: st.cfg.Name, revision: st.loadedRev, stays: true, as: g.as}
		switch {
		case !st.cfg.Prunes():
			log.Info("clusters removed from an environment; their objects stay (prune: false)", "app", g.app, "env", g.env, "clusters", g.clusters)
			continue
		case ch.clean:
			rm.clusters = g.clusters
			log.Info("clusters removed from an environment; pruning", "app", g.app, "env", g.env, "clusters", g.clusters)
		default:
			rm.held = g.clusters
			log.Warn("clusters removed from an environment in a snapshot with broken files; pruning held until they load",
				"app", g.app, "env", g.env, "clusters", g.clusters)
		}
		rms = append(rms, rm)
	}
	return rms
}

// forgetApp drops the status, series and drift watch of an app removed
// without pruning.
func (f *feed) forgetApp(d *desiredApp) {
	for _, e := range d.Envs {
		f.forgetEnv(d.Name, e.Name, e.Clusters)
	}
	f.store.forgetApp(d.Name)
	f.driver.forget(d.Name)
	f.rec.DeleteApp(d.Name)
}

// forgetEnv drops the status, series and drift watch of an environment
// removed without pruning.
func (f *feed) forgetEnv(app, env string, clusters []string) {
	f.drift.forgetEnv(app, env, clusters)
	f.store.forgetEnv(app, env, false)
	f.driver.resetEnv(app, env)
	f.rec.DeleteEnv(app, env)
}

// resetEnv starts the status and drift findings of (app, env) over.
func (f *feed) resetEnv(app, env string) {
	f.store.resetEnv(app, env)
	f.drift.dropFindings(app, env)
	f.driver.resetEnv(app, env)
}

// sourceRepo is the repository key of a source: source.RepoKey of its URL
// (no credentials, no query), and "//path" when it reads a directory.
func sourceRepo(src config.Source) string {
	k := source.RepoKey(src.URL)
	if k == "" {
		return ""
	}
	if p := path.Clean(src.Path); src.Path != "" && p != "." {
		k += "//" + p
	}
	return k
}
