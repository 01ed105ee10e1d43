package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/agent/metrics"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/inventory"
)

// Extra keys naming, in an inventory, the source whose app it is: the
// source's name and its repository (RepoKey, then "//" and the path when
// there is one), so that agents sharing a cluster with equally named
// sources never collect each other's inventories.
const (
	extraSource = "carina.source"
	extraRepo   = "carina.repo"
)

// envKey names an (app, env).
type envKey struct{ app, env string }

// removal is an (app, env) that left its source, or the clusters an
// environment that stays no longer names: the objects and the inventory
// of each cluster still holding them are deleted by a work item of the
// leader's workers (item.Remove), with apply.Manager.Delete, which
// honours prune policies. A removal lives in its source's state until
// every cluster is clean or the (app, env) is desired there again.
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
	// orphan says collectOrphans found it after a start: the inventory
	// must name the source to be touched.
	orphan bool
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

// removalState is what cancelRemovalLocked found; a larger state wins
// when removals of several sources are found.
type removalState int

const (
	removalNone      removalState = iota // nothing to do for the caller (none pending, or only clusters trimmed)
	removalCancelled                     // a removal of the whole env was dropped: its status starts over
	removalRunning                       // a worker is deleting; it requeues the env when done
)

// cancelRemovalLocked calls off the pending removal of (app, env), which
// is desired again in clusters, in any source: those clusters leave the
// removal. What is left of a removal of the whole env is pruned as the
// clusters the env no longer names. a.mu is held.
func (a *Agent) cancelRemovalLocked(app, env string, clusters []string) removalState {
	k := envKey{app, env}
	state := removalNone
	for _, st := range a.srcs {
		rm := st.removals[k]
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
			delete(st.removals, k)
		}
		if whole {
			state = max(state, removalCancelled)
		}
	}
	return state
}

// queueRemovals records removals in st (merging them into one already
// pending), shows those of whole environments in status and queues the
// work items of those with clusters to clean now. A removal of the whole
// environment takes over the held clusters of a pending one.
func (a *Agent) queueRemovals(st *sourceState, rms []*removal) {
	if len(rms) == 0 {
		return
	}
	a.mu.Lock()
	for i, rm := range rms {
		cur := st.removals[rm.key()]
		if cur == nil {
			rm.clusters, rm.held = mergeSorted(nil, rm.clusters), mergeSorted(nil, rm.held)
			st.removals[rm.key()] = rm
			continue
		}
		cur.clusters, cur.held = mergeSorted(cur.clusters, rm.clusters), mergeSorted(cur.held, rm.held)
		if !rm.stays {
			cur.clusters, cur.held = mergeSorted(cur.clusters, cur.held), nil
		}
		cur.held = without(cur.held, cur.clusters)
		cur.back = without(cur.back, slices.Concat(rm.clusters, rm.held)) // gone again while running
		cur.whole, cur.stays, cur.orphan = cur.whole || rm.whole, cur.stays && rm.stays, cur.orphan && rm.orphan
		rms[i] = cur
	}
	views := make([]removal, len(rms))
	for i, rm := range rms {
		views[i] = *rm
		views[i].clusters = slices.Clone(rm.clusters)
	}
	a.mu.Unlock()
	s := a.store
	s.mu.Lock()
	for _, rm := range views {
		if rm.stays {
			continue
		}
		ar := s.app(rm.app)
		if rm.whole {
			ar.source, ar.err = rm.source, &api.ErrorStatus{Message: rm.reason() + "; pruning", Time: a.now()}
		}
		er := ar.env(rm.env)
		er.sync, er.clusters = api.SyncPruning, mergeSorted(er.clusters, rm.clusters)
		er.lastError = &api.ErrorStatus{Message: rm.reason() + "; pruning", Time: a.now()}
		if !slices.Contains(ar.envOrder, rm.env) {
			ar.envOrder = append(ar.envOrder, rm.env)
		}
	}
	s.mu.Unlock()
	for _, rm := range views {
		if len(rm.clusters) > 0 {
			a.queue.Add(item{App: rm.app, Env: rm.env, Remove: true})
		}
	}
}

// removeEnv is the work item of a removal: it deletes the (app, env)
// from each cluster that still holds it, and returns an error for the
// queue's backoff when a cluster could not be cleaned.
func (a *Agent) removeEnv(ctx context.Context, app, env string) (time.Duration, error) {
	st, rm := a.startRemoval(app, env)
	if rm == nil {
		return 0, nil
	}
	log := a.log.With("app", app, "env", env, "source", rm.source, "revision", rm.revision, "reconcile", reconcileID(ctx))
	if a.suspended(app) {
		a.endRemoval(st, rm, nil, nil)
		if !rm.stays {
			a.setRemovalError(rm, rm.reason()+"; pruning waits: the application is suspended")
		}
		log.Info("removal waits: the application is suspended", "clusters", rm.clusters)
		return 0, nil
	}
	var done []string
	var errs []error
	for _, c := range rm.clusters {
		if err := a.removeFrom(ctx, c, st, rm, log); err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: %w", c, err))
			continue
		}
		done = append(done, c)
	}
	err := errors.Join(errs...)
	a.endRemoval(st, rm, done, err)
	return 0, err
}

// startRemoval marks the pending removal of (app, env) running and
// returns a copy of it, or nil when there is none or no cluster is left
// to clean now: the clusters the env names again leave it.
func (a *Agent) startRemoval(app, env string) (*sourceState, *removal) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := envKey{app, env}
	for _, st := range a.srcs {
		rm := st.removals[k]
		if rm == nil || rm.running {
			continue
		}
		if e, ok := a.desiredEnvLocked(app, env); ok {
			rm.clusters, rm.held = without(rm.clusters, e.Clusters), without(rm.held, e.Clusters)
		}
		if len(rm.clusters) == 0 {
			if len(rm.held) == 0 {
				delete(st.removals, k)
			}
			return nil, nil
		}
		rm.running = true
		cp := *rm
		cp.clusters, cp.held, cp.back = slices.Clone(rm.clusters), nil, nil
		return st, &cp
	}
	return nil, nil
}

// removeFrom deletes the (app, env) from one cluster: nothing to do
// without an inventory, and an inventory another source (or no agent)
// wrote is left alone. The drift intent of a cluster an env that stays
// left is forgotten in any case.
func (a *Agent) removeFrom(ctx context.Context, cluster string, st *sourceState, rm *removal, log *slog.Logger) error {
	t, err := a.target(cluster)
	if err != nil {
		return err
	}
	if rm.stays {
		a.forgetClusters(rm.app, rm.env, cluster)
	}
	inv, err := t.ReadInventory(ctx, rm.app, rm.env)
	if err != nil || inv == nil {
		return err
	}
	if why := foreignInventory(st.cfg, rm, inv); why != "" {
		log.Warn("inventory left alone", "cluster", cluster, "why", why)
		return nil
	}
	a.driftTrack(cluster, rm.app, rm.env, nil) // its deletions are no drift
	cs, err := t.Delete(ctx, rm.app, rm.env)
	n := 0
	if cs != nil {
		n = cs.Count(apply.Pruned)
	}
	a.rec.ApplyObjects(rm.app, rm.env, metrics.ActionPruned, n)
	a.postPrune(ctx, cluster, rm, inv, n, err)
	if err != nil {
		return err
	}
	// A reconcile that was applying when the app left may have written
	// the inventory again; the next try deletes what it applied.
	if again, err := t.ReadInventory(ctx, rm.app, rm.env); err != nil || again != nil {
		return errors.Join(err, errors.New("the inventory was written again while pruning"))
	}
	if rm.stays {
		a.forgetClusters(rm.app, rm.env, cluster) // a finding that raced the delete
		log.Info("environment pruned from a cluster it left", "cluster", cluster, "pruned", n)
		return nil
	}
	log.Info("removed environment pruned", "cluster", cluster, "pruned", n)
	return nil
}

// foreignInventory says why an inventory is not this removal's to
// delete, or "" when it is: it must name this source (and repository),
// or, for a removal seen live, carry no source but the agent's inputs
// (an agent before the source key wrote it).
func foreignInventory(src config.Source, rm *removal, inv *inventory.Inventory) string {
	name, repo := inv.Extra[extraSource], inv.Extra[extraRepo]
	switch {
	case name == "" && !rm.orphan && inv.Extra[extraInputs] != "":
		return ""
	case name == "":
		return "it names no source (carina apply, or another tool)"
	case name != src.Name:
		return fmt.Sprintf("it belongs to source %s", name)
	case repo != "" && repo != sourceRepo(src):
		return fmt.Sprintf("it belongs to repository %s", repo)
	}
	return ""
}

// endRemoval records the outcome of a removal's work item: the clusters
// done, and those desired again meanwhile, leave it; once none is left it
// ends. An env desired again meanwhile is applied again.
func (a *Agent) endRemoval(st *sourceState, cp *removal, done []string, err error) {
	a.mu.Lock()
	rm := st.removals[cp.key()]
	if rm == nil { // cannot happen: only the running item removes it
		a.mu.Unlock()
		return
	}
	rm.running = false
	back := rm.back
	rm.back = nil
	rm.clusters = without(without(rm.clusters, done), back)
	_, desired := a.desiredEnvLocked(cp.app, cp.env)
	returned := desired && !rm.stays // the whole env came back
	if desired {
		rm.stays, rm.whole = true, false
	}
	finished := len(rm.clusters) == 0 && len(rm.held) == 0
	if finished {
		delete(st.removals, cp.key())
	}
	stays, left := rm.stays, slices.Clone(rm.clusters)
	appGone := a.desired[cp.app] == nil && !a.removingLocked(cp.app)
	a.mu.Unlock()
	switch {
	case returned:
		a.resetEnv(cp.app, cp.env)
		a.enqueueWorkflow(cp.app)
		a.enqueueEnv(cp.app, cp.env)
	case len(back) > 0:
		a.reapply(cp.app, cp.env, back)
	}
	switch {
	case err != nil && stays:
		a.log.Warn("environment not pruned from clusters it left", "app", cp.app, "env", cp.env, "source", cp.source,
			"clusters", left, "error", sanitize(err, a.now()).Message)
	case stays:
		for _, c := range done {
			a.rec.DeleteCluster(cp.app, cp.env, c)
		}
	case finished:
		a.removed(cp, appGone)
	case err != nil:
		es := sanitize(err, a.now())
		a.setRemovalError(cp, cp.reason()+"; pruning failed: "+es.Message)
		a.log.Warn("removed environment not pruned", "app", cp.app, "env", cp.env, "source", cp.source, "error", es.Message)
	}
}

// reapply applies (app, env) again, without the fast path: the prune of
// clusters it names again may have deleted what a reconcile applied.
func (a *Agent) reapply(app, env string, clusters []string) {
	a.store.mu.Lock()
	if ar, ok := a.store.apps[app]; ok && ar.envs[env] != nil {
		ar.envs[env].force = true
	}
	a.store.mu.Unlock()
	a.log.Info("clusters back in the environment while pruning; applying again", "app", app, "env", env, "clusters", clusters)
	a.enqueueEnv(app, env)
}

// removing reports whether app has a pending removal.
func (a *Agent) removing(app string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.removingLocked(app)
}

// removingLocked reports whether app has a pending removal. a.mu is held.
func (a *Agent) removingLocked(app string) bool {
	for _, st := range a.srcs {
		for k := range st.removals {
			if k.app == app {
				return true
			}
		}
	}
	return false
}

// removed drops the status and series of a pruned (app, env), and of its
// app once nothing of it is left.
func (a *Agent) removed(rm *removal, appGone bool) {
	s := a.store
	s.mu.Lock()
	if ar, ok := s.apps[rm.app]; ok {
		delete(ar.envs, rm.env)
		ar.envOrder = slices.DeleteFunc(ar.envOrder, func(e string) bool { return e == rm.env })
		if appGone {
			delete(s.apps, rm.app)
		}
	}
	s.mu.Unlock()
	if appGone {
		a.rec.DeleteApp(rm.app)
		a.log.Info("removed application pruned", "app", rm.app, "source", rm.source, "revision", rm.revision)
		return
	}
	a.rec.DeleteEnv(rm.app, rm.env)
}

// resetEnv starts the status of (app, env) over.
func (a *Agent) resetEnv(app, env string) {
	a.store.mu.Lock()
	if ar, ok := a.store.apps[app]; ok {
		delete(ar.envs, env)
	}
	a.store.mu.Unlock()
}

// setRemovalError shows msg on the removal's env, and on its app when the
// app is gone.
func (a *Agent) setRemovalError(rm *removal, msg string) {
	es := &api.ErrorStatus{Message: msg, Time: a.now()}
	s := a.store
	s.mu.Lock()
	defer s.mu.Unlock()
	ar := s.app(rm.app)
	if rm.whole {
		ar.err = es
	}
	er := ar.env(rm.env)
	er.sync, er.lastError = api.SyncPruning, es
}

// suspended reports whether app is suspended.
func (a *Agent) suspended(app string) bool {
	a.store.mu.Lock()
	defer a.store.mu.Unlock()
	ar, ok := a.store.apps[app]
	return ok && ar.suspended
}

// requeueRemovals queues the pending removals of app again and reports
// whether there were any (the API's reconcile and resume use it).
func (a *Agent) requeueRemovals(app string) bool {
	a.mu.Lock()
	var envs []string
	for _, st := range a.srcs {
		for k := range st.removals {
			if k.app == app {
				envs = append(envs, k.env)
			}
		}
	}
	a.mu.Unlock()
	for _, e := range envs {
		a.queue.Add(item{App: app, Env: e, Remove: true})
	}
	return len(envs) > 0
}

// postPrune posts Pruned, or PruneFailed, in the namespace of the
// inventory's first namespaced object.
func (a *Agent) postPrune(ctx context.Context, cluster string, rm *removal, inv *inventory.Inventory, n int, err error) {
	ev := Event{App: rm.app, Env: rm.env}
	for _, e := range inv.Entries {
		if ev.Namespace = e.ID.Namespace; ev.Namespace != "" {
			break
		}
	}
	switch {
	case err != nil:
		ev.Type, ev.Reason, ev.Message = corev1.EventTypeWarning, "PruneFailed", rm.reasonIn(cluster)+": "+sanitize(err, time.Time{}).Message
	case n > 0:
		ev.Type, ev.Reason, ev.Message = corev1.EventTypeNormal, "Pruned", fmt.Sprintf("%s: %d objects pruned", rm.reasonIn(cluster), n)
	default:
		return
	}
	a.events.post(ctx, cluster, ev)
}

// mergeSorted returns the sorted union of a and b.
func mergeSorted(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}
