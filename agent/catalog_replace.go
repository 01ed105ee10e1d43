package agent

import (
	"maps"
	"slices"
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
// absent app may have moved into a broken one.
func (c *catalog) replace(st *sourceState, l *loaded) *catalogChange {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := &catalogChange{clean: len(l.errs) == 0}
	keep := map[string]bool{}
	declared := map[string]bool{}
	for _, d := range l.apps {
		declared[d.Name] = true
		if prev := c.apps[d.Name]; prev != nil && prev.Source != d.Source {
			ch.conflicts = append(ch.conflicts, conflict{d.Name, d.Source, prev.Source})
			continue
		}
		keep[d.Name] = true
		ch.kept = append(ch.kept, d)
		c.replaceApp(d, ch)
	}
	for _, name := range st.apps {
		if !keep[name] {
			c.leave(st, l, name, keep, ch)
		}
	}
	st.declared, st.clean, st.loadedRev = declared, len(l.errs) == 0, l.snap.Revision()
	st.apps = slices.Sorted(maps.Keys(keep))
	return ch
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

// leave decides about an app of st that this load does not hold: kept
// (its file is broken, or the load has broken files), handed to the
// other source that declares it, or gone. c.mu is held.
func (c *catalog) leave(st *sourceState, l *loaded, name string, keep map[string]bool, ch *catalogChange) {
	prev := c.apps[name]
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
	delete(c.apps, name)
	for _, other := range c.srcs {
		if other != st && !other.capability && other.declared[name] {
			ch.moved = append(ch.moved, name)
			ch.reloads = append(ch.reloads, other)
			return
		}
	}
	ch.gone = append(ch.gone, prev)
}

// orphanScope is what the orphan collection of one source knows of the
// desired state.
type orphanScope struct {
	src string
	rev string
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
	sc := orphanScope{src: st.cfg.Name, rev: st.loadedRev, repo: sourceRepo(st.cfg), live: map[envKey]bool{}, apps: map[string]bool{}, elsewhere: map[string]bool{}}
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
