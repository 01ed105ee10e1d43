package agent

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carina-gitops/carina/agent/metrics"
)

// removal is an (app, env) that left its source, or the clusters an
// environment that stays no longer names: the objects and the inventory
// of each cluster still holding them are deleted by a work item of the
// leader's workers (item.Remove), with apply.Manager.Delete, which
// honours prune policies. A removal lives until every cluster is clean
// or the (app, env) is desired there again.
type removal struct {
	app, env string
	source   string
	revision string
	// whole says the application left the source, not only this
	// environment.
	whole bool
	// stays says the environment is still desired: only the clusters of
	// the removal left its topology. Its status is not touched: it stays
	// Synced in the clusters it names.
	stays bool
	// orphan says the orphan collection found it after a start: the
	// inventory must name the source to be touched.
	orphan bool
	// as is the identity its objects were applied as.
	as identity
	// clusters still to clean, sorted.
	clusters []string
	// held are clusters that left the environment in a load with broken
	// files: they are pruned once the source loads without any.
	held []string
	// running: a worker is deleting. back are clusters of the running
	// item desired again meanwhile: the env is applied to them again,
	// without the fast path, once the worker stops.
	running bool
	back    []string
}

func (r *removal) key() envKey { return envKey{r.app, r.env} }

// reason says why the objects go, for status, logs and Events.
func (r *removal) reason() string {
	switch {
	case r.whole:
		return fmt.Sprintf("removed from source %s at %s", r.source, r.revision)
	case r.stays:
		return fmt.Sprintf("clusters %s removed from environment %s in source %s at %s", strings.Join(r.clusters, ", "), r.env, r.source, r.revision)
	}
	return fmt.Sprintf("environment %s removed from source %s at %s", r.env, r.source, r.revision)
}

// reasonIn is reason for the Events of one cluster.
func (r *removal) reasonIn(cluster string) string {
	if r.stays {
		return fmt.Sprintf("cluster %s removed from environment %s in source %s at %s", cluster, r.env, r.source, r.revision)
	}
	return r.reason()
}

// removals owns the pending removals of every source and runs their
// work items (removal_run.go). It never calls the catalog while it holds
// its lock: the catalog calls cancel under its own.
type removals struct {
	log     *slog.Logger
	rec     *metrics.Recorder
	now     func() time.Time
	catalog *catalog
	store   *statusStore
	drift   *driftBook
	events  *eventRecorder
	targets *targetSet
	work    *workers
	// force makes the next reconcile of an env skip the fast path;
	// envGone and appGone tell the workflow driver an env's status
	// starts over and an app is gone.
	force   func(app, env string)
	envGone func(ctx context.Context, app, env string)
	appGone func(app string)

	mu       sync.Mutex
	bySource map[string]map[envKey]*removal
}

// pending returns the removals of source src, creating the map. r.mu is
// held.
func (r *removals) pending(src string) map[envKey]*removal {
	m := r.bySource[src]
	if m == nil {
		m = map[envKey]*removal{}
		r.bySource[src] = m
	}
	return m
}

// cancel calls off the pending removal of (app, env), which is desired
// again in clusters, in any source: those clusters leave the removal.
// What is left of a removal of the whole env is pruned as the clusters
// the env no longer names.
func (r *removals) cancel(app, env string, clusters []string) removalState {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := envKey{app, env}
	state := removalNone
	for _, m := range r.bySource {
		rm := m[k]
		if rm == nil {
			continue
		}
		rm.held = without(rm.held, clusters)
		back := slices.DeleteFunc(slices.Clone(clusters), func(c string) bool { return !slices.Contains(rm.clusters, c) })
		switch {
		case rm.running && (!rm.stays || len(back) > 0):
			rm.back = mergeSorted(rm.back, back)
			state = max(state, removalRunning)
			continue
		case rm.running:
			continue
		}
		whole := !rm.stays
		rm.clusters = without(rm.clusters, clusters)
		rm.stays, rm.whole = true, false
		if len(rm.clusters) == 0 && len(rm.held) == 0 {
			delete(m, k)
		}
		if whole {
			state = max(state, removalCancelled)
		}
	}
	return state
}

// add records removals of source src (merging them into one already
// pending), shows those of whole environments in status and queues the
// work items of those with clusters to clean now. A removal of the whole
// environment takes over the held clusters of a pending one.
func (r *removals) add(src string, rms []*removal) {
	if len(rms) == 0 {
		return
	}
	r.mu.Lock()
	m := r.pending(src)
	for i, rm := range rms {
		cur := m[rm.key()]
		if cur == nil {
			rm.clusters, rm.held = mergeSorted(nil, rm.clusters), mergeSorted(nil, rm.held)
			m[rm.key()] = rm
			continue
		}
		cur.clusters, cur.held = mergeSorted(cur.clusters, rm.clusters), mergeSorted(cur.held, rm.held)
		if !rm.stays {
			cur.clusters, cur.held = mergeSorted(cur.clusters, cur.held), nil
		}
		cur.held = without(cur.held, cur.clusters)
		cur.back = without(cur.back, slices.Concat(rm.clusters, rm.held)) // gone again while running
		cur.whole, cur.stays, cur.orphan, cur.as = cur.whole || rm.whole, cur.stays && rm.stays, cur.orphan && rm.orphan, rm.as
		rms[i] = cur
	}
	var views []pruneView
	var due []envKey
	for _, rm := range rms {
		if !rm.stays {
			views = append(views, pruneView{app: rm.app, env: rm.env, source: rm.source, reason: rm.reason(),
				whole: rm.whole, clusters: slices.Clone(rm.clusters)})
		}
		if len(rm.clusters) > 0 {
			due = append(due, rm.key())
		}
	}
	r.mu.Unlock()
	r.store.pruning(views, r.now())
	for _, k := range due {
		r.work.addRemoval(k.app, k.env)
	}
}

// releaseHeld makes the held clusters of src's removals due, after a
// load without broken files, and returns the removals to queue.
func (r *removals) releaseHeld(src string) []envKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []envKey
	for k, rm := range r.bySource[src] {
		if len(rm.held) == 0 {
			continue
		}
		rm.clusters, rm.held = mergeSorted(rm.clusters, rm.held), nil
		out = append(out, k)
	}
	slices.SortFunc(out, func(x, y envKey) int {
		if c := strings.Compare(x.app, y.app); c != 0 {
			return c
		}
		return strings.Compare(x.env, y.env)
	})
	return out
}

// start marks the pending removal of (app, env) running and returns its
// source and a copy of it, or nil when there is none or no cluster is
// left to clean now: the clusters the env names again (desired) leave
// it.
func (r *removals) start(app, env string, desired []string) (string, *removal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := envKey{app, env}
	for src, m := range r.bySource {
		rm := m[k]
		if rm == nil || rm.running {
			continue
		}
		rm.clusters, rm.held = without(rm.clusters, desired), without(rm.held, desired)
		if len(rm.clusters) == 0 {
			if len(rm.held) == 0 {
				delete(m, k)
			}
			return "", nil
		}
		rm.running = true
		cp := *rm
		cp.clusters, cp.held, cp.back = slices.Clone(rm.clusters), nil, nil
		return src, &cp
	}
	return "", nil
}

// ended is what end found of a removal whose work item stopped.
type ended struct {
	// returned: the whole env is desired again; back: clusters desired
	// again meanwhile, to apply to again.
	returned bool
	back     []string
	// finished: nothing is left to clean; stays: only clusters of an
	// env that stays were cleaned; left: clusters still to clean.
	finished, stays bool
	left            []string
	// appGone: the app is neither desired nor being removed elsewhere.
	appGone bool
}

// end records the outcome of a removal's work item: the clusters done,
// and those desired again meanwhile, leave it; once none is left it
// ends. desired says the env is desired again, appDesired its app.
func (r *removals) end(src string, cp *removal, done []string, desired, appDesired bool) ended {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.bySource[src]
	rm := m[cp.key()]
	if rm == nil { // cannot happen: only the running item removes it
		return ended{}
	}
	rm.running = false
	out := ended{back: rm.back}
	rm.back = nil
	rm.clusters = without(without(rm.clusters, done), out.back)
	out.returned = desired && !rm.stays
	if desired {
		rm.stays, rm.whole = true, false
	}
	out.finished = len(rm.clusters) == 0 && len(rm.held) == 0
	if out.finished {
		delete(m, cp.key())
	}
	out.stays, out.left = rm.stays, slices.Clone(rm.clusters)
	out.appGone = !appDesired && !r.hasLocked(cp.app)
	return out
}

// has reports whether app has a pending removal.
func (r *removals) has(app string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hasLocked(app)
}

func (r *removals) hasLocked(app string) bool {
	for _, m := range r.bySource {
		for k := range m {
			if k.app == app {
				return true
			}
		}
	}
	return false
}

// requeue queues the pending removals of app again and reports whether
// there were any (the API's reconcile and resume use it).
func (r *removals) requeue(app string) bool {
	r.mu.Lock()
	var envs []string
	for _, m := range r.bySource {
		for k := range m {
			if k.app == app {
				envs = append(envs, k.env)
			}
		}
	}
	r.mu.Unlock()
	for _, e := range envs {
		r.work.addRemoval(app, e)
	}
	return len(envs) > 0
}
