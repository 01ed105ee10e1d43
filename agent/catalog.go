package agent

import (
	"fmt"
	"maps"
	"slices"

	"github.com/carina-gitops/carina/agent/api"
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
	// that left apps still in it: both are pruned when the source prunes.
	gone     []*desiredApp
	envsGone []envGone
	// held are apps absent from a snapshot with broken files: they may
	// have moved into one, so they keep their last good state.
	held []string
	// moved are apps that left this source for another one, which loads
	// again to take them over.
	moved   []string
	reloads []*sourceState
}

// envGone is an environment that left an app still in its source.
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
	ch := &catalogChange{}
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
	a.mu.Unlock()

	for _, r := range ch.resets {
		a.resetEnv(r[0], r[1])
	}
	a.updateRecords(l.apps, keep)
	a.applyChange(st, ch)
}

// replaceLocked makes d the desired state of its app and notes what to
// queue and which environments left it. A pending removal of one of its
// environments is called off. a.mu is held.
func (a *Agent) replaceLocked(d *desiredApp, ch *catalogChange) {
	prev := a.desired[d.Name]
	a.desired[d.Name] = d
	if prev == nil || prev.Release != d.Release {
		ch.queueApps = append(ch.queueApps, d.Name)
	}
	for _, e := range d.Envs {
		switch a.cancelRemovalLocked(d.Name, e.Name) {
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
		if _, ok := d.env(e.Name); !ok {
			ch.envsGone = append(ch.envsGone, envGone{app: d.Name, env: e.Name, clusters: e.Clusters})
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
	a.queueRemovals(st, rms)
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
