package agent

import (
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/agent/metrics"
	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/capabilities"
	"github.com/carina-gitops/carina/source"
)

// sourceState is one configured repository. The agent's mu guards it.
type sourceState struct {
	// loadMu serialises the loads of one app source: a load triggered by
	// a capability snapshot and one by the source's own snapshot may run
	// at once, and the last to finish must be the one that saw the
	// newest snapshots.
	loadMu     sync.Mutex
	cfg        config.Source
	capability bool
	poller     *source.Poller
	wake       chan struct{}
	snap       *source.Snapshot
	// apps are the apps whose desired state comes from this source.
	apps []string
	// declared are the app names of the last load, those another source
	// owns included; nil before the first load.
	declared map[string]bool
	// clean says the last load had no broken file; loadedRev is its
	// revision.
	clean     bool
	loadedRev string
	// removals are the (app, env)s that left this source and are being
	// pruned (remove.go).
	removals map[envKey]*removal
	// orphansDone says collectOrphans is done (listed every cluster
	// once, or gave up); collecting that it is listing now, orphanLists
	// how often it listed.
	orphansDone, collecting bool
	orphanLists             int
	// reload makes the next poll load the snapshot again though it did
	// not change: an app moved here from another source.
	reload bool
}

// startSources builds a poller per source and runs each until ctx ends.
func (a *Agent) startSources(ctx context.Context, wg *sync.WaitGroup) error {
	add := func(s config.Source, capability bool) error {
		ref := s.SourceRef()
		if ref.Interval == 0 {
			ref.Interval = a.cfg.Reconcile.PollInterval
		}
		p, err := source.NewPoller(a.fetcher, ref, source.PollerOptions{Interval: ref.Interval, Jitter: 0.1})
		if err != nil {
			return fmt.Errorf("source %s: %w", s.Name, err)
		}
		st := &sourceState{cfg: s, capability: capability, poller: p, wake: make(chan struct{}, 1), removals: map[envKey]*removal{}}
		a.mu.Lock()
		a.srcs[s.Name] = st
		a.mu.Unlock()
		a.rec.InitSource(s.Name)
		wg.Go(func() { a.pollLoop(ctx, st) })
		return nil
	}
	for _, s := range a.cfg.Sources.Capabilities {
		if err := add(s, true); err != nil {
			return err
		}
	}
	for _, s := range a.cfg.Sources.Apps {
		if err := add(s, false); err != nil {
			return err
		}
	}
	return nil
}

// WakeRepos wakes the sources of the repositories (webhooks call it) and
// reports how many it woke.
func (a *Agent) WakeRepos(urls ...string) int {
	keys := map[string]bool{}
	for _, u := range urls {
		if k := source.RepoKey(u); k != "" {
			keys[k] = true
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, st := range a.srcs {
		if keys[st.poller.RepoKey()] {
			select {
			case st.wake <- struct{}{}:
			default:
			}
			n++
		}
	}
	return n
}

// pollLoop polls one source on its interval, at once when woken, and
// with the poller's backoff after failures.
func (a *Agent) pollLoop(ctx context.Context, st *sourceState) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-st.wake:
		}
		t0 := time.Now()
		u := st.poller.Poll(ctx)
		if ctx.Err() != nil {
			return
		}
		result := metrics.ResultSuccess
		if u.Kind == source.UpdateFailed {
			result = metrics.ResultError
		}
		a.rec.Fetch(st.cfg.Name, result, time.Since(t0))
		a.onUpdate(ctx, st, u)
		timer.Reset(u.RetryIn)
	}
}

// onUpdate turns a poll into desired state.
func (a *Agent) onUpdate(ctx context.Context, st *sourceState, u source.Update) {
	log := a.log.With("source", st.cfg.Name)
	switch u.Kind {
	case source.UpdateUnchanged:
		if a.takeReload(st) {
			a.loadSource(ctx, st)
		}
		a.collectAllOrphans(ctx)
		return
	case source.UpdateFailed:
		es := sanitize(u.Err, a.now())
		log.Warn("source fetch failed", "error", es.Message, "failures", u.Failures, "retry_in", u.RetryIn)
		a.sourceFailed(st, es)
		return
	case source.UpdateRecovered:
		log.Info("source recovered", "revision", u.Snapshot.Revision())
		a.sourceFailed(st, nil)
		return
	}
	log.Info("source revision", "revision", u.Snapshot.Revision(), "kind", string(u.Kind))
	a.rec.SourceRevision(st.cfg.Name, u.Snapshot.Revision())
	a.mu.Lock()
	st.snap = u.Snapshot
	var appSrcs []*sourceState
	for _, s := range a.srcs {
		if !s.capability && s.snap != nil && (s == st || st.capability) {
			appSrcs = append(appSrcs, s)
		}
	}
	a.mu.Unlock()
	a.sourceFailed(st, nil)
	for _, s := range appSrcs {
		a.loadSource(ctx, s)
	}
	a.markFirstSnapshot()
}

// markFirstSnapshot records readiness once every app source has a
// snapshot.
func (a *Agent) markFirstSnapshot() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.srcs {
		if s.snap == nil {
			return
		}
	}
	a.firstSnap.Store(true)
}

// sourceFailed sets (or clears, with nil) the error of every app of st.
// The last good desired state stays; status says Stalled.
func (a *Agent) sourceFailed(st *sourceState, es *api.ErrorStatus) {
	a.mu.Lock()
	apps := slices.Clone(st.apps)
	a.mu.Unlock()
	s := a.store
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range apps {
		ar := s.app(name)
		ar.err = es
		for _, er := range ar.envs {
			switch {
			case er.sync == api.SyncPruning:
			case es != nil:
				er.sync = api.SyncStalled
			case er.sync == api.SyncStalled && er.lastError == nil:
				er.sync = api.SyncSynced
			}
		}
	}
}

// registry builds the definitions an app source's apps see: its own,
// the capability repositories', and the built-in library.
func (a *Agent) registry(ctx context.Context, st *sourceState, snap *source.Snapshot) (*capabilities.Registry, error) {
	var mods []capabilities.Module
	if st.cfg.Definitions != "" {
		mods = append(mods, capabilities.Module{Source: capabilities.SourceApp, FS: snap.FS(),
			Dir: path.Clean(st.cfg.Definitions), Revision: snap.Commit, Optional: true})
	}
	a.mu.Lock()
	for _, c := range a.cfg.Sources.Capabilities {
		cs := a.srcs[c.Name]
		if cs == nil || cs.snap == nil {
			continue
		}
		dir := "."
		if cs.snap.Path != "" {
			dir = path.Clean(cs.snap.Path)
		}
		mods = append(mods, capabilities.Module{Source: capabilities.SourceCapability, Name: c.Name, FS: cs.snap.FS(), Dir: dir, Revision: cs.snap.Commit})
	}
	a.mu.Unlock()
	return capabilities.NewRegistry(ctx, capabilities.Options{Cache: a.capCache, Builtin: true}, mods...)
}

// requestReload makes st load its snapshot again at its next poll, which
// it is woken for.
func (a *Agent) requestReload(st *sourceState) {
	a.mu.Lock()
	st.reload = true
	a.mu.Unlock()
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// takeReload reports and clears a reload request of an app source that
// has a snapshot.
func (a *Agent) takeReload(st *sourceState) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := st.reload && st.snap != nil && !st.capability
	st.reload = false
	return r
}

// loadSource reads the apps of an app source's snapshot and replaces the
// source's desired state. When the load fails as a whole the last good
// state stays; a broken file only keeps its own apps at their last good
// state. A load without broken files lets the restart's orphan
// collection run.
func (a *Agent) loadSource(ctx context.Context, st *sourceState) {
	st.loadMu.Lock()
	defer st.loadMu.Unlock()
	a.mu.Lock()
	snap := st.snap
	a.mu.Unlock()
	reg, err := a.registry(ctx, st, snap)
	var l *loaded
	if err == nil {
		l, err = loadApps(ctx, st.cfg.Name, snap, reg, a.cfg.Limits.Fetch.MaxFiles, a.cfg.Clusters[0].Name)
	}
	if err != nil {
		es := sanitize(err, a.now())
		a.log.Warn("applications cannot be loaded", "source", st.cfg.Name, "revision", snap.Revision(), "error", es.Message)
		a.loadFailed(st, err, es)
		return
	}
	a.setDesired(st, l)
	if len(l.errs) > 0 {
		es := sanitize(l.errs, a.now())
		a.log.Warn("application files cannot be loaded", "source", st.cfg.Name, "revision", l.snap.Revision(),
			"files", slices.Sorted(maps.Keys(l.broken)), "error", es.Message)
		if !a.markBroken(st, l.errs, es.Time) {
			a.log.Warn("broken application files define no known application", "source", st.cfg.Name)
		}
	}
	a.collectAllOrphans(ctx)
}

// loadFailed sets the error on the apps whose files it names, or on every
// app of the source when it names none of them. Every app keeps its last
// good desired state and goes on reconciling.
func (a *Agent) loadFailed(st *sourceState, err error, es *api.ErrorStatus) {
	var list appfile.ErrorList
	if !asList(err, &list) || !a.markBroken(st, list, es.Time) {
		a.sourceFailed(st, es)
	}
}

// markBroken sets the errors of list on the apps of st whose files they
// name, and reports whether there was any.
func (a *Agent) markBroken(st *sourceState, list appfile.ErrorList, at time.Time) bool {
	a.mu.Lock()
	names := slices.Clone(st.apps)
	a.mu.Unlock()
	s := a.store
	s.mu.Lock()
	defer s.mu.Unlock()
	hit := false
	for _, name := range names {
		ar := s.app(name)
		file, _, _ := strings.Cut(ar.file, ":")
		var mine appfile.ErrorList
		for _, e := range list {
			if file != "" && e.Pos.File == file {
				mine = append(mine, e)
			}
		}
		if len(mine) == 0 {
			continue
		}
		hit = true
		ar.err = sanitize(mine, at)
		for _, er := range ar.envs {
			if er.sync != api.SyncPruning {
				er.sync = api.SyncStalled
			}
		}
	}
	return hit
}

// markSource records in inv the source the app comes from (see
// collectOrphans). The apply of a reconcile calls it.
func (a *Agent) markSource(inv *inventory.Inventory, app string) {
	a.mu.Lock()
	var st *sourceState
	if d := a.desired[app]; d != nil {
		st = a.srcs[d.Source]
	}
	a.mu.Unlock()
	if st == nil {
		return
	}
	inv.Extra[extraSource] = st.cfg.Name
	if repo := sourceRepo(st.cfg); repo != "" {
		inv.Extra[extraRepo] = repo
	}
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

// orphanListTimeout bounds the listing of every cluster's inventories
// by collectOrphans, which runs on a source's poll loop; maxOrphanLists
// bounds how often a source lists again after a listing failed.
const (
	orphanListTimeout = time.Minute
	maxOrphanLists    = 5
)

// collectAllOrphans runs collectOrphans for every app source whose last
// load was clean and that has not collected yet.
func (a *Agent) collectAllOrphans(ctx context.Context) {
	a.mu.Lock()
	var todo []*sourceState
	for _, st := range a.srcs {
		if !st.capability && st.clean && !st.orphansDone && !st.collecting && st.cfg.Prunes() {
			todo = append(todo, st)
		}
	}
	a.mu.Unlock()
	for _, st := range todo {
		a.collectOrphans(ctx, st)
	}
}

// orphanScope is what collectOrphans knows of the desired state.
type orphanScope struct {
	src config.Source
	rev string
	// live are the (app, env)s some source desires, apps their apps;
	// elsewhere the apps other sources declare.
	live            map[envKey]bool
	apps, elsewhere map[string]bool
}

// collectOrphans finds what a source's apps left behind while no agent
// ran: the inventories, in every cluster, that name this source but
// whose (app, env) no source declares any more. It runs once every app
// source has loaded, so that an app that moved to another source is not
// taken for an orphan, and at later polls again while a cluster could
// not be listed (maxOrphanLists times). Inventories without the source
// key are never touched.
func (a *Agent) collectOrphans(ctx context.Context, st *sourceState) {
	a.mu.Lock()
	if st.collecting || st.orphansDone {
		a.mu.Unlock()
		return
	}
	for _, s := range a.srcs {
		if !s.capability && s.declared == nil {
			a.mu.Unlock()
			return
		}
	}
	st.collecting, st.orphanLists = true, st.orphanLists+1
	sc := orphanScope{src: st.cfg, rev: st.loadedRev, live: map[envKey]bool{}, apps: map[string]bool{}, elsewhere: map[string]bool{}}
	for name, d := range a.desired {
		sc.apps[name] = true
		for _, e := range d.Envs {
			sc.live[envKey{name, e.Name}] = true
		}
	}
	for _, s := range a.srcs {
		if s != st {
			maps.Copy(sc.elsewhere, s.declared)
		}
	}
	a.mu.Unlock()

	rms, complete := a.findOrphans(ctx, sc)
	for _, rm := range rms {
		a.log.Info("orphaned inventory found; pruning", "app", rm.app, "env", rm.env, "source", rm.source, "clusters", rm.clusters)
	}
	a.queueRemovals(st, rms)
	a.mu.Lock()
	st.collecting, st.orphansDone = false, complete || st.orphanLists >= maxOrphanLists
	a.mu.Unlock()
}

// findOrphans lists the inventories of every cluster and returns the
// removals of those sc's source left behind, and whether every cluster
// could be listed.
func (a *Agent) findOrphans(ctx context.Context, sc orphanScope) ([]*removal, bool) {
	ctx, cancel := context.WithTimeout(ctx, orphanListTimeout)
	defer cancel()
	byKey := map[envKey]*removal{}
	complete := true
	repo := sourceRepo(sc.src)
	for _, c := range slices.Sorted(maps.Keys(a.targets)) {
		invs, err := a.targets[c].ListInventories(ctx)
		if err != nil {
			complete = false
			a.log.Warn("inventories cannot be listed", "source", sc.src.Name, "cluster", c, "error", sanitize(err, time.Time{}).Message)
		}
		for _, inv := range invs {
			k := envKey{inv.App, inv.Env}
			r := inv.Extra[extraRepo]
			if inv.Extra[extraSource] != sc.src.Name || (r != "" && r != repo) || sc.live[k] || sc.elsewhere[inv.App] {
				continue
			}
			if byKey[k] == nil {
				byKey[k] = &removal{app: inv.App, env: inv.Env, source: sc.src.Name, revision: sc.rev, whole: !sc.apps[inv.App], orphan: true}
			}
			byKey[k].clusters = append(byKey[k].clusters, c)
		}
	}
	return slices.Collect(maps.Values(byKey)), complete
}
