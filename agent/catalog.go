package agent

import (
	"cmp"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/appfile"
)

// catalogChange is what one load of a source changed in the desired
// state, for setDesired to act on once the agent's lock is released.
type catalogChange struct {
	queueEnvs [][2]string
	queueApps []string
	// resets are environments whose pending removal a re-add called
	// off: their status starts over.
	resets [][2]string
	// gone are the apps that left the source, envsGone the environments
	// that left apps still in it, clustersGone the clusters that left
	// environments still in them: all are pruned when the source prunes.
	gone         []*desiredApp
	envsGone     []envGone
	clustersGone []envGone
	// clean says the load had no broken file: clusters that left an
	// environment are pruned now, not held; released are the removals
	// whose held clusters this load makes due.
	clean    bool
	released []envKey
	// held are apps absent from a snapshot with broken files: they may
	// have moved into one, so they keep their last good state.
	held []string
	// moved are apps that left this source for another one, which loads
	// again to take them over.
	moved   []string
	reloads []*sourceState
}

// envGone is an environment that left an app still in its source, or
// the clusters that left an environment still in it.
type envGone struct {
	app      string
	clusters []string
	env      string
}

// setDesired replaces the apps of an app source with those of a load and
// queues exactly the (app, env) items whose inputs changed, plus the
// workflow of every app whose release changed. Apps of broken files keep
// their last good desired state. Apps and environments that left the
// source are pruned (see remove.go), or only forgotten when the source
// sets prune: false; a removal is decided only on a load without broken
// files, since an absent app may have moved into a broken one.
func (a *Agent) setDesired(st *sourceState, l *loaded) {
	a.mu.Lock()
	ch := &catalogChange{clean: len(l.errs) == 0}
	keep := map[string]bool{}
	declared := map[string]bool{}
	for _, d := range l.apps {
		declared[d.Name] = true
		if prev := a.desired[d.Name]; prev != nil && prev.Source != d.Source {
			a.log.Warn("application is defined by two sources", "app", d.Name, "source", d.Source, "other", prev.Source)
			continue
		}
		keep[d.Name] = true
		a.replaceLocked(d, ch)
	}
	for _, name := range st.apps {
		if !keep[name] {
			a.leaveLocked(st, l, name, keep, ch)
		}
	}
	st.declared, st.clean, st.loadedRev = declared, len(l.errs) == 0, l.snap.Revision()
	st.apps = slices.Sorted(maps.Keys(keep))
	if ch.clean {
		ch.released = a.releaseHeldLocked(st)
	}
	a.mu.Unlock()

	for _, r := range ch.resets {
		a.resetEnv(r[0], r[1])
	}
	a.updateRecords(l.apps, keep)
	a.applyChange(st, ch)
}

// replaceLocked makes d the desired state of its app and notes what to
// queue, which environments left it and which clusters left the
// environments that stay. A pending removal of one of its environments
// is called off in the clusters it names. a.mu is held.
func (a *Agent) replaceLocked(d *desiredApp, ch *catalogChange) {
	prev := a.desired[d.Name]
	a.desired[d.Name] = d
	if prev == nil || prev.Release != d.Release {
		ch.queueApps = append(ch.queueApps, d.Name)
	}
	for _, e := range d.Envs {
		switch a.cancelRemovalLocked(d.Name, e.Name, e.Clusters) {
		case removalRunning:
			// The removal requeues the env once it stops.
		case removalCancelled:
			ch.resets = append(ch.resets, [2]string{d.Name, e.Name})
			ch.queueEnvs = append(ch.queueEnvs, [2]string{d.Name, e.Name})
		default:
			if prev == nil || prev.Inputs[e.Name] != d.Inputs[e.Name] {
				ch.queueEnvs = append(ch.queueEnvs, [2]string{d.Name, e.Name})
			}
		}
	}
	if prev == nil {
		return
	}
	for _, e := range prev.Envs {
		cur, ok := d.env(e.Name)
		switch {
		case !ok:
			ch.envsGone = append(ch.envsGone, envGone{app: d.Name, env: e.Name, clusters: e.Clusters})
		case len(without(e.Clusters, cur.Clusters)) > 0:
			ch.clustersGone = append(ch.clustersGone, envGone{app: d.Name, env: e.Name, clusters: without(e.Clusters, cur.Clusters)})
		}
	}
}

// leaveLocked decides about an app of st that this load does not hold:
// kept (its file is broken, or the load has broken files), handed to
// the other source that declares it, or gone. a.mu is held.
func (a *Agent) leaveLocked(st *sourceState, l *loaded, name string, keep map[string]bool, ch *catalogChange) {
	prev := a.desired[name]
	switch {
	case prev == nil:
		return
	case l.broken[prev.App.Pos.File]:
		keep[name] = true
		return
	case len(l.errs) > 0:
		keep[name] = true
		ch.held = append(ch.held, name)
		return
	}
	delete(a.desired, name)
	for _, other := range a.srcs {
		if other != st && !other.capability && other.declared[name] {
			ch.moved = append(ch.moved, name)
			ch.reloads = append(ch.reloads, other)
			return
		}
	}
	ch.gone = append(ch.gone, prev)
}

// applyChange acts on a load's change outside the agent's lock: removals,
// status of held apps, reloads of sources taking apps over, and the
// queue.
func (a *Agent) applyChange(st *sourceState, ch *catalogChange) {
	log := a.log.With("source", st.cfg.Name, "revision", st.loadedRev)
	var rms []*removal
	for _, d := range ch.gone {
		if !st.cfg.Prunes() {
			a.forgetApp(d)
			log.Info("application removed from its source; its objects stay (prune: false)", "app", d.Name)
			continue
		}
		log.Info("application removed from its source; pruning", "app", d.Name)
		for _, e := range d.Envs {
			rms = append(rms, &removal{app: d.Name, env: e.Name, source: st.cfg.Name, revision: st.loadedRev, whole: true, clusters: e.Clusters})
		}
	}
	for _, g := range ch.envsGone {
		if !st.cfg.Prunes() {
			a.forgetEnv(g.app, g.env, g.clusters)
			log.Info("environment removed from its application; its objects stay (prune: false)", "app", g.app, "env", g.env)
			continue
		}
		log.Info("environment removed from its application; pruning", "app", g.app, "env", g.env)
		rms = append(rms, &removal{app: g.app, env: g.env, source: st.cfg.Name, revision: st.loadedRev, clusters: g.clusters})
	}
	rms = append(rms, a.clusterRemovals(st, ch, log)...)
	a.queueRemovals(st, rms)
	for _, k := range ch.released {
		log.Info("clusters removed from an environment; pruning now that the source loads", "app", k.app, "env", k.env)
		a.queue.Add(item{App: k.app, Env: k.env, Remove: true})
	}
	for _, name := range ch.held {
		log.Warn("application absent from a snapshot with broken files; removal held", "app", name)
		a.store.mu.Lock()
		a.store.app(name).err = &api.ErrorStatus{Time: a.now(), Message: fmt.Sprintf(
			"absent from source %s at %s, which has broken application files: not removed until they load", st.cfg.Name, st.loadedRev)}
		a.store.mu.Unlock()
	}
	for i, name := range ch.moved {
		other := ch.reloads[i]
		log.Info("application moved to another source", "app", name, "other", other.cfg.Name)
		a.requestReload(other)
	}
	for _, name := range ch.queueApps {
		a.enqueueWorkflow(name)
	}
	for _, ie := range ch.queueEnvs {
		a.enqueueEnv(ie[0], ie[1])
	}
}

// clusterRemovals turns the clusters that left environments still in
// their app into removals that leave the environments' status alone. The
// drift intent there is forgotten at once: Git no longer wants the
// objects there, whatever happens to them. A load with broken files only
// holds the removal (see queueRemovals); prune: false only forgets.
func (a *Agent) clusterRemovals(st *sourceState, ch *catalogChange, log *slog.Logger) []*removal {
	var rms []*removal
	for _, g := range ch.clustersGone {
		a.forgetClusters(g.app, g.env, g.clusters...)
		rm := &removal{app: g.app, env: g.env, source: st.cfg.Name, revision: st.loadedRev, stays: true}
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

// forgetClusters drops the drift intent and findings of (app, env) in
// clusters its environment no longer names.
func (a *Agent) forgetClusters(app, env string, clusters ...string) {
	for _, c := range clusters {
		a.driftTrack(c, app, env, nil)
	}
	a.store.mu.Lock()
	if ar, ok := a.store.apps[app]; ok && ar.envs[env] != nil {
		maps.DeleteFunc(ar.envs[env].drift, func(_ string, e *driftEntry) bool { return slices.Contains(clusters, e.f.Cluster) })
	}
	a.store.mu.Unlock()
	for _, c := range clusters {
		a.rec.DriftObjects(app, env, c, 0, 0)
	}
}

// forgetApp drops the status, series and drift watch of an app removed
// without pruning.
func (a *Agent) forgetApp(d *desiredApp) {
	for _, e := range d.Envs {
		a.forgetEnv(d.Name, e.Name, e.Clusters)
	}
	a.store.mu.Lock()
	delete(a.store.apps, d.Name)
	a.store.mu.Unlock()
	a.rec.DeleteApp(d.Name)
}

// forgetEnv drops the status, series and drift watch of an environment
// removed without pruning.
func (a *Agent) forgetEnv(app, env string, clusters []string) {
	for _, c := range clusters {
		a.driftTrack(c, app, env, nil)
	}
	a.store.mu.Lock()
	if ar, ok := a.store.apps[app]; ok {
		delete(ar.envs, env)
	}
	a.store.mu.Unlock()
	a.rec.DeleteEnv(app, env)
}

// updateRecords refreshes the status records of the apps. Environments
// being pruned stay listed after the app's own.
func (a *Agent) updateRecords(apps []*desiredApp, keep map[string]bool) {
	s := a.store
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range apps {
		if !keep[d.Name] {
			continue
		}
		_, known := s.apps[d.Name]
		ar := s.app(d.Name)
		ar.source, ar.revision, ar.file, ar.plan, ar.err = d.Source, d.Snapshot.Revision(), d.App.Pos.String(), d.Plan, nil
		ar.envOrder = ar.envOrder[:0]
		for _, e := range d.Envs {
			ar.envOrder = append(ar.envOrder, e.Name)
			er := ar.env(e.Name)
			er.clusters, er.namespace = e.Clusters, e.Namespace
			if er.sync == api.SyncStalled && er.lastError == nil {
				er.sync = api.SyncSynced
			}
			if er.applied && er.inputs != d.Inputs[e.Name] && er.sync == api.SyncSynced {
				er.sync = api.SyncOutOfSync
			}
			if !known {
				a.rec.InitApp(d.Name, e.Name, e.Clusters...)
			}
		}
		for _, en := range slices.Sorted(maps.Keys(ar.envs)) {
			if ar.envs[en].sync == api.SyncPruning && !slices.Contains(ar.envOrder, en) {
				ar.envOrder = append(ar.envOrder, en)
			}
		}
	}
}

// errUnknownApp is the error of API calls naming no app.
func errUnknownApp(app string) error {
	return fmt.Errorf("application %q: %w", app, api.ErrNotFound)
}

// releaseHeldLocked makes the held clusters of st's removals due, after
// a load without broken files, and returns the removals to queue. a.mu
// is held.
func (a *Agent) releaseHeldLocked(st *sourceState) []envKey {
	var out []envKey
	for k, rm := range st.removals {
		if len(rm.held) == 0 {
			continue
		}
		rm.clusters, rm.held = mergeSorted(rm.clusters, rm.held), nil
		out = append(out, k)
	}
	slices.SortFunc(out, func(x, y envKey) int { return cmp.Or(strings.Compare(x.app, y.app), strings.Compare(x.env, y.env)) })
	return out
}

// desiredEnvLocked returns the environment of a desired app. a.mu is
// held.
func (a *Agent) desiredEnvLocked(app, env string) (appfile.Environment, bool) {
	if d := a.desired[app]; d != nil {
		return d.env(env)
	}
	return appfile.Environment{}, false
}

// without returns the elements of s not in drop, in a new slice (nil
// when none is left).
func without(s, drop []string) []string {
	var out []string
	for _, v := range s {
		if !slices.Contains(drop, v) {
			out = append(out, v)
		}
	}
	return out
}
