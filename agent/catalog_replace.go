package agent

import (
	"maps"
	"slices"

	"github.com/carina-gitops/carina/agent/config"
)

// catalogChange is what one load of a source changed in the desired
// state, for the feed to act on once the catalog's lock is released.
type catalogChange struct {
	queueEnvs []envKey
	queueApps []string
	// resets are environments whose pending removal a re-add called
	// off: their status starts over.
	resets []envKey
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
	// again to take them over (reloads, by index).
	moved   []string
	reloads []*sourceState
	// conflicts are apps another source already defines.
	conflicts []conflict
	// kept are the apps of the load that are now desired from it.
	kept []*desiredApp
	// hold is the prune the mass-deletion guard holds after this load,
	// nil when none; lifted is the previous load's hold when it is gone.
	hold, lifted *pruneHold
}

// conflict is an app defined by two sources; the first one keeps it.
type conflict struct{ app, source, other string }

// envGone is an environment that left an app still in its source, or
// the clusters that left an environment still in it.
type envGone struct {
	app      string
	clusters []string
	env      string
	as       identity // what its objects were applied as
}

// replace makes the apps of a load the desired state of their source
// and says what changed: exactly the (app, env) items whose inputs
// changed, the workflow of every app whose release changed, and what
// left. Apps of broken files keep their last good desired state; a
// removal is decided only on a load without broken files, since an
// absent app may have moved into a broken one. When what would leave
// trips the mass-deletion guard, every app that would lose something
// keeps its last desired state and the source holds the prune.
func (c *catalog) replace(st *sourceState, l *loaded) *catalogChange {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := &catalogChange{clean: len(l.errs) == 0}
	lost, total := c.losses(st, l)
	was := st.hold
	h := newHold(st.cfg, l.snap.Revision(), st.confirmed, lost, total, false)
	if h != nil {
		h.pathGone = l.gone
	}
	st.hold = h
	if h == nil && was != nil && was.orphans {
		// The orphan collection's hold stays until confirmed.
		st.hold = was
	}
	ch.hold = h
	if was != nil && st.hold == nil {
		ch.lifted = was
	}
	held := map[string]bool{}
	if h != nil {
		for _, name := range h.apps {
			held[name] = true
		}
	}
	keep := map[string]bool{}
	declared := map[string]bool{}
	for _, d := range l.apps {
		declared[d.Name] = true
		if prev := c.apps[d.Name]; prev != nil && prev.Source != d.Source {
			ch.conflicts = append(ch.conflicts, conflict{d.Name, d.Source, prev.Source})
			continue
		}
		keep[d.Name] = true
		if held[d.Name] {
			continue
		}
		ch.kept = append(ch.kept, d)
		c.replaceApp(d, ch)
	}
	for _, name := range st.apps {
		switch {
		case keep[name]:
		case held[name]:
			keep[name] = true
		default:
			c.leave(st, l, name, keep, ch)
		}
	}
	st.declared, st.clean, st.loadedRev = declared, len(l.errs) == 0, l.snap.Revision()
	st.apps = slices.Sorted(maps.Keys(keep))
	return ch
}

// losses says what l would remove of st's apps (whole apps, and
// clusters or environments of apps that stay) and how many deployments
// st has now. c.mu is held.
func (c *catalog) losses(st *sourceState, l *loaded) ([]loss, int) {
	next := map[string]*desiredApp{}
	for _, d := range l.apps {
		next[d.Name] = d
	}
	var lost []loss
	total := 0
	for _, name := range st.apps {
		prev := c.apps[name]
		if prev == nil {
			continue
		}
		total += deploymentsOf(prev)
		d := next[name]
		if d == nil {
			if f, _ := c.fate(st, l, prev); f == fateGone {
				ls := loss{app: name, whole: true, envs: map[string][]string{}}
				for _, e := range prev.Envs {
					ls.envs[e.Name] = e.Clusters
				}
				lost = append(lost, ls)
			}
			continue
		}
		ls := loss{app: name, envs: map[string][]string{}}
		for _, e := range prev.Envs {
			cur, _ := d.env(e.Name)
			if gone := without(e.Clusters, cur.Clusters); len(gone) > 0 {
				ls.envs[e.Name] = gone
			}
		}
		if len(ls.envs) > 0 {
			lost = append(lost, ls)
		}
	}
	return lost, total
}

// replaceApp makes d the desired state of its app and notes what to
// queue, which environments left it and which clusters left the
// environments that stay. A pending removal of one of its environments
// is called off in the clusters it names. c.mu is held.
func (c *catalog) replaceApp(d *desiredApp, ch *catalogChange) {
	prev := c.apps[d.Name]
	c.apps[d.Name] = d
	if prev == nil || prev.Release != d.Release {
		ch.queueApps = append(ch.queueApps, d.Name)
	}
	for _, e := range d.Envs {
		k := envKey{d.Name, e.Name}
		switch c.cancelRemoval(d.Name, e.Name, e.Clusters) {
		case removalRunning:
			// The removal requeues the env once it stops.
		case removalCancelled:
			ch.resets = append(ch.resets, k)
			ch.queueEnvs = append(ch.queueEnvs, k)
		default:
			if prev == nil || prev.Inputs[e.Name] != d.Inputs[e.Name] {
				ch.queueEnvs = append(ch.queueEnvs, k)
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
			ch.envsGone = append(ch.envsGone, envGone{app: d.Name, env: e.Name, clusters: e.Clusters, as: identityOf(e)})
		case len(without(e.Clusters, cur.Clusters)) > 0:
			ch.clustersGone = append(ch.clustersGone, envGone{app: d.Name, env: e.Name, clusters: without(e.Clusters, cur.Clusters), as: identityOf(e)})
		}
	}
}

// fate is what becomes of an app a load of its source does not hold.
type fate int

const (
	fateNone   fate = iota // no desired state to lose
	fateBroken             // its file is broken: kept as it was
	fateHeld               // the load has broken files: kept, removal held
	fateMoved              // another source declares it
	fateGone               // it left: removed
)

// fate decides about prev, an app of st that l does not hold, and names
// the source it moved to. c.mu is held.
func (c *catalog) fate(st *sourceState, l *loaded, prev *desiredApp) (fate, *sourceState) {
	switch {
	case prev == nil:
		return fateNone, nil
	case l.broken[prev.App.Pos.File]:
		return fateBroken, nil
	case len(l.errs) > 0:
		return fateHeld, nil
	}
	for _, other := range c.srcs {
		if other != st && !other.capability && other.declared[prev.Name] {
			return fateMoved, other
		}
	}
	return fateGone, nil
}

// leave acts on the fate of an app of st that this load does not hold:
// kept (its file is broken, or the load has broken files), handed to the
// other source that declares it, or gone. c.mu is held.
func (c *catalog) leave(st *sourceState, l *loaded, name string, keep map[string]bool, ch *catalogChange) {
	prev := c.apps[name]
	f, other := c.fate(st, l, prev)
	switch f {
	case fateNone:
		return
	case fateBroken:
		keep[name] = true
		return
	case fateHeld:
		keep[name] = true
		ch.held = append(ch.held, name)
		return
	}
	delete(c.apps, name)
	if f == fateMoved {
		ch.moved = append(ch.moved, name)
		ch.reloads = append(ch.reloads, other)
		return
	}
	ch.gone = append(ch.gone, prev)
}

// orphanScope is what the orphan collection of one source knows of the
// desired state.
type orphanScope struct {
	src string
	rev string
	// cfg is the source's configuration, confirmed the revision a person
	// confirmed a held prune of, deployments how many the source desires
	// (for the mass-deletion guard).
	cfg         config.Source
	confirmed   string
	deployments int
	// repo is the source's repository key (sourceRepo).
	repo string
	// live are the (app, env)s some source desires, apps their apps;
	// elsewhere the apps other sources declare.
	live            map[envKey]bool
	apps, elsewhere map[string]bool
}

// orphanScope returns the scope of st's orphan collection, once every
// app source has loaded (so that an app that moved to another source is
// not taken for an orphan) and while st's last load was clean.
func (c *catalog) orphanScope(st *sourceState) (orphanScope, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !st.clean || st.capability || !st.cfg.Prunes() {
		return orphanScope{}, false
	}
	for _, s := range c.srcs {
		if !s.capability && s.declared == nil {
			return orphanScope{}, false
		}
	}
	sc := orphanScope{src: st.cfg.Name, rev: st.loadedRev, cfg: st.cfg, confirmed: st.confirmed, repo: sourceRepo(st.cfg),
		live: map[envKey]bool{}, apps: map[string]bool{}, elsewhere: map[string]bool{}}
	for _, name := range st.apps {
		if d := c.apps[name]; d != nil {
			sc.deployments += deploymentsOf(d)
		}
	}
	for name, d := range c.apps {
		sc.apps[name] = true
		for _, e := range d.Envs {
			sc.live[envKey{name, e.Name}] = true
		}
	}
	for _, s := range c.srcs {
		if s != st {
			maps.Copy(sc.elsewhere, s.declared)
		}
	}
	return sc, true
}

// appSources lists the app sources.
func (c *catalog) appSources() []*sourceState {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*sourceState
	for _, s := range c.srcs {
		if !s.capability {
			out = append(out, s)
		}
	}
	return out
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
