package agent

import (
	"context"
	"path"
	"sync"
	"time"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/capabilities"
	"github.com/carina-gitops/carina/source"
	"github.com/carina-gitops/carina/source/oci"
)

// catalog is the desired state. It owns the configured sources and
// their snapshots, the loads of app sources (appfile.LoadEach), the
// definition registries, the inputs digests, and which (app, env) items
// a load changed. It hands out immutable per-app values (*desiredApp):
// a reconcile gets one and never looks anything up while it runs.
//
// Lock order: catalog, then removals (replace calls cancelRemoval under
// c.mu); nothing else is called under c.mu.
type catalog struct {
	cfg      *config.Config
	fetcher  *source.Fetcher
	oci      *oci.Fetcher
	capCache *capabilities.Cache
	// cancelRemoval calls off the pending removal of an env desired
	// again (removals.cancel).
	cancelRemoval func(app, env string, clusters []string) removalState

	mu   sync.Mutex
	srcs map[string]*sourceState
	apps map[string]*desiredApp

	// old is the last load of an applied commit (loadAt).
	old oldLoad
	// pins are the loads of pinned revisions (loadRef), guarded by mu.
	pins map[string]*loaded
}

// sourceState is one configured repository, guarded by the catalog's
// lock (loadMu apart).
type sourceState struct {
	// loadMu serialises the loads of one app source: a load triggered by
	// a capability snapshot and one by the source's own snapshot may run
	// at once, and the last to finish must be the one that saw the
	// newest snapshots.
	loadMu     sync.Mutex
	cfg        config.Source
	capability bool
	poller     snapshotPoller
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
	// reload makes the next poll load the snapshot again though it did
	// not change: an app moved here from another source, or a person
	// confirmed a held prune.
	reload bool
	// hold is the prune the mass-deletion guard holds, nil when none;
	// confirmed is the revision a person confirmed a prune of.
	hold      *pruneHold
	confirmed string
	// fetchErr is why the last fetch failed, nil after a good one.
	fetchErr *api.ErrorStatus
}

func newCatalog(cfg *config.Config, fetcher *source.Fetcher, cancelRemoval func(app, env string, clusters []string) removalState) *catalog {
	return &catalog{cfg: cfg, fetcher: fetcher, cancelRemoval: cancelRemoval,
		capCache: capabilities.NewCache(capabilities.DefaultCacheOptions()),
		srcs:     map[string]*sourceState{}, apps: map[string]*desiredApp{}, pins: map[string]*loaded{}}
}

// addSource registers a source.
func (c *catalog) addSource(st *sourceState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.srcs[st.cfg.Name] = st
}

// app returns the desired state of app, nil when no source declares it.
func (c *catalog) app(name string) *desiredApp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.apps[name]
}

// env returns the desired environment of an app.
func (c *catalog) env(app, env string) (appfile.Environment, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.apps[app]; d != nil {
		return d.env(env)
	}
	return appfile.Environment{}, false
}

// items lists the work items of every desired app: its workflow and
// each env.
func (c *catalog) items() []item {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []item
	for name, d := range c.apps {
		out = append(out, item{App: name})
		for _, e := range d.Envs {
			out = append(out, item{App: name, Env: e.Name})
		}
	}
	return out
}

// appsOf lists the apps whose desired state comes from st.
func (c *catalog) appsOf(st *sourceState) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), st.apps...)
}

// setSnapshot records a new snapshot of st and returns the app sources
// to load again: st itself, or every app source with a snapshot when st
// is a capability repository.
func (c *catalog) setSnapshot(st *sourceState, snap *source.Snapshot) []*sourceState {
	c.mu.Lock()
	defer c.mu.Unlock()
	st.snap = snap
	var out []*sourceState
	for _, s := range c.srcs {
		if !s.capability && s.snap != nil && (s == st || st.capability) {
			out = append(out, s)
		}
	}
	return out
}

// hasAllSnapshots reports whether every source has a snapshot.
func (c *catalog) hasAllSnapshots() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.srcs {
		if s.snap == nil {
			return false
		}
	}
	return true
}

// wake wakes the sources of the repositories keys names and reports how
// many it woke.
func (c *catalog) wake(keys map[string]bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, st := range c.srcs {
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

// setFetchError records why st's last fetch failed; nil clears it.
func (c *catalog) setFetchError(st *sourceState, es *api.ErrorStatus) {
	c.mu.Lock()
	st.fetchErr = es
	c.mu.Unlock()
}

// requestReload makes st load its snapshot again at its next poll, which
// it is woken for.
func (c *catalog) requestReload(st *sourceState) {
	c.mu.Lock()
	st.reload = true
	c.mu.Unlock()
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// takeReload reports and clears a reload request of an app source that
// has a snapshot.
func (c *catalog) takeReload(st *sourceState) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := st.reload && st.snap != nil && !st.capability
	st.reload = false
	return r
}

// registry builds the definitions an app source's apps see: its own,
// the capability repositories', and the built-in library.
func (c *catalog) registry(ctx context.Context, st *sourceState, snap *source.Snapshot) (*capabilities.Registry, error) {
	var mods []capabilities.Module
	if st.cfg.Definitions != "" {
		mods = append(mods, capabilities.Module{Source: capabilities.SourceApp, FS: snap.FS(),
			Dir: path.Clean(st.cfg.Definitions), Revision: snap.Commit, Optional: true})
	}
	c.mu.Lock()
	for _, cc := range c.cfg.Sources.Capabilities {
		cs := c.srcs[cc.Name]
		if cs == nil || cs.snap == nil {
			continue
		}
		dir := "."
		if cs.snap.Path != "" {
			dir = path.Clean(cs.snap.Path)
		}
		mods = append(mods, capabilities.Module{Source: capabilities.SourceCapability, Name: cc.Name, FS: cs.snap.FS(), Dir: dir, Revision: cs.snap.Commit})
	}
	c.mu.Unlock()
	return capabilities.NewRegistry(ctx, capabilities.Options{Cache: c.capCache, Builtin: true}, mods...)
}

// load reads the apps of st's current snapshot. Loads of one source are
// serialised (loadMu); the caller hands the result to replace while it
// still holds the returned unlock.
func (c *catalog) load(ctx context.Context, st *sourceState) (*loaded, *source.Snapshot, error) {
	c.mu.Lock()
	snap := st.snap
	c.mu.Unlock()
	reg, err := c.registry(ctx, st, snap)
	if err != nil {
		return nil, snap, err
	}
	l, err := loadApps(ctx, st.cfg, snap, reg, c.cfg.Limits.Fetch.MaxFiles, c.cfg.Clusters[0].Name)
	if err != nil {
		return nil, snap, err
	}
	if !st.cfg.IsOCI() { // an artifact has one revision: no pins
		applyPins(ctx, st, l, c.loadRef)
	}
	return l, snap, nil
}

// maxPinLoads bounds the loads of pinned revisions kept.
const maxPinLoads = 16

// loadRef loads the apps of st at another revision of its repository
// (a pinned environment's), once per commit and capability revisions.
func (c *catalog) loadRef(ctx context.Context, st *sourceState, ref source.Ref) (*loaded, error) {
	snap, err := c.fetcher.Fetch(ctx, ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	key := st.cfg.Name + "@" + snap.Commit
	for _, cc := range c.cfg.Sources.Capabilities {
		if cs := c.srcs[cc.Name]; cs != nil && cs.snap != nil {
			key += " " + cs.snap.Commit
		}
	}
	l := c.pins[key]
	c.mu.Unlock()
	if l != nil {
		return l, nil
	}
	reg, err := c.registry(ctx, st, snap)
	if err != nil {
		return nil, err
	}
	if l, err = loadApps(ctx, st.cfg, snap, reg, c.cfg.Limits.Fetch.MaxFiles, c.cfg.Clusters[0].Name); err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.pins) >= maxPinLoads {
		clear(c.pins)
	}
	c.pins[key] = l
	c.mu.Unlock()
	return l, nil
}

// oldLoadTTL: the last load of an applied commit is dropped a minute
// after it was made, so that it does not stay in memory. After a restart
// the gated envs of a monorepo were mostly applied at the same commit,
// and each would otherwise load the whole repository again.
const oldLoadTTL = time.Minute

type oldLoad struct {
	mu  sync.Mutex
	key string
	l   *loaded
}

// loadAt loads the apps of source src at commit (fetched by commit id; a
// tree already on disk needs no network), once for consecutive calls.
func (c *catalog) loadAt(ctx context.Context, src, commit string) (*loaded, error) {
	c.mu.Lock()
	st := c.srcs[src]
	c.mu.Unlock()
	if st == nil {
		return nil, errNoSource(src)
	}
	key := src + "@" + commit
	c.old.mu.Lock()
	defer c.old.mu.Unlock()
	if c.old.key == key {
		return c.old.l, nil
	}
	snap, err := snapshotAt(ctx, c.fetcher, c.oci, st.cfg, commit)
	if err != nil {
		return nil, err
	}
	reg, err := c.registry(ctx, st, snap)
	if err != nil {
		return nil, err
	}
	l, err := loadApps(ctx, st.cfg, snap, reg, c.cfg.Limits.Fetch.MaxFiles, c.cfg.Clusters[0].Name)
	if err != nil {
		return nil, err
	}
	c.old.key, c.old.l = key, l
	time.AfterFunc(oldLoadTTL, func() {
		c.old.mu.Lock()
		defer c.old.mu.Unlock()
		if c.old.key == key {
			c.old.key, c.old.l = "", nil
		}
	})
	return l, nil
}

// sourceConfig returns the configuration of the source named name.
func (c *catalog) sourceConfig(name string) (config.Source, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.srcs[name]; st != nil {
		return st.cfg, true
	}
	return config.Source{}, false
}
