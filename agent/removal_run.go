package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"

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

// run is the work item of a removal: it deletes the (app, env) from each
// cluster that still holds it, and returns an error for the queue's
// backoff when a cluster could not be cleaned.
func (r *removals) run(ctx context.Context, app, env string) (time.Duration, error) {
	var desired []string
	if e, ok := r.catalog.env(app, env); ok {
		desired = e.Clusters
	}
	src, rm := r.start(app, env, desired)
	if rm == nil {
		return 0, nil
	}
	log := r.log.With("app", app, "env", env, "source", rm.source, "revision", rm.revision, "reconcile", reconcileID(ctx))
	if r.store.suspended(app) {
		r.finish(ctx, src, rm, nil, nil, log)
		if !rm.stays {
			r.store.setRemovalError(rm.app, rm.env, rm.whole, rm.reason()+"; pruning waits: the application is suspended", r.now())
		}
		log.Info("removal waits: the application is suspended", "clusters", rm.clusters)
		return 0, nil
	}
	cfg, _ := r.catalog.sourceConfig(src)
	var done []string
	var errs []error
	for _, c := range rm.clusters {
		if err := r.removeFrom(ctx, c, cfg, rm, log); err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: %w", c, err))
			continue
		}
		done = append(done, c)
	}
	err := errors.Join(errs...)
	r.finish(ctx, src, rm, done, err, log)
	return 0, err
}

// removeFrom deletes the (app, env) from one cluster: nothing to do
// without an inventory, and an inventory another source (or no agent)
// wrote is left alone. The drift intent of a cluster an env that stays
// left is forgotten in any case.
func (r *removals) removeFrom(ctx context.Context, cluster string, src config.Source, rm *removal, log *slog.Logger) error {
	t, err := r.targets.get(cluster, rm.as)
	if err != nil {
		return err
	}
	if rm.stays {
		r.drift.forgetClusters(rm.app, rm.env, cluster)
	}
	inv, err := t.ReadInventory(ctx, rm.app, rm.env)
	if err != nil || inv == nil {
		return err
	}
	if why := foreignInventory(src, rm, inv); why != "" {
		log.Warn("inventory left alone", "cluster", cluster, "why", why)
		return nil
	}
	r.drift.untrack(cluster, rm.app, rm.env) // its deletions are no drift
	cs, err := t.Delete(ctx, rm.app, rm.env)
	n := 0
	if cs != nil {
		n = cs.Count(apply.Pruned)
	}
	r.rec.ApplyObjects(rm.app, rm.env, metrics.ActionPruned, n)
	r.postPrune(ctx, cluster, rm, inv, n, err)
	if err != nil {
		return err
	}
	// A reconcile that was applying when the app left may have written
	// the inventory again; the next try deletes what it applied.
	if again, err := t.ReadInventory(ctx, rm.app, rm.env); err != nil || again != nil {
		return errors.Join(err, errors.New("the inventory was written again while pruning"))
	}
	if rm.stays {
		r.drift.forgetClusters(rm.app, rm.env, cluster) // a finding that raced the delete
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

// finish records the outcome of a removal's work item and acts on it:
// an env desired again meanwhile is applied again, a finished removal
// drops its status and series, a failed one says why.
func (r *removals) finish(ctx context.Context, src string, cp *removal, done []string, err error, log *slog.Logger) {
	_, desired := r.catalog.env(cp.app, cp.env)
	out := r.end(src, cp, done, desired, r.catalog.app(cp.app) != nil)
	switch {
	case out.returned:
		r.store.resetEnv(cp.app, cp.env)
		r.drift.dropFindings(cp.app, cp.env)
		r.envGone(ctx, cp.app, cp.env)
		r.work.addWorkflow(cp.app)
		r.work.addEnv(cp.app, cp.env)
	case len(out.back) > 0:
		log.Info("clusters back in the environment while pruning; applying again", "clusters", out.back)
		r.force(cp.app, cp.env)
		r.work.addEnv(cp.app, cp.env)
	}
	switch {
	case err != nil && out.stays:
		log.Warn("environment not pruned from clusters it left", "clusters", out.left, "error", sanitize(err, r.now()).Message)
	case out.stays:
		for _, c := range done {
			r.rec.DeleteCluster(cp.app, cp.env, c)
		}
	case out.finished:
		r.store.forgetEnv(cp.app, cp.env, out.appGone)
		r.drift.dropFindings(cp.app, cp.env)
		r.envGone(ctx, cp.app, cp.env)
		if out.appGone {
			r.appGone(cp.app)
			r.rec.DeleteApp(cp.app)
			log.Info("removed application pruned")
			return
		}
		r.rec.DeleteEnv(cp.app, cp.env)
	case err != nil:
		es := sanitize(err, r.now())
		r.store.setRemovalError(cp.app, cp.env, cp.whole, cp.reason()+"; pruning failed: "+es.Message, r.now())
		log.Warn("removed environment not pruned", "error", es.Message)
	}
}

// postPrune posts Pruned, or PruneFailed, in the namespace of the
// inventory's first namespaced object.
func (r *removals) postPrune(ctx context.Context, cluster string, rm *removal, inv *inventory.Inventory, n int, err error) {
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
	r.events.post(ctx, cluster, ev)
}
