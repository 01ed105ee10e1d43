package agent

import (
	"context"
	"fmt"
	"strings"

	"github.com/carina-gitops/carina/agent/api"
)

var _ api.Controller = (*Agent)(nil)

// Reconcile implements api.Controller: every env of app skips the fast
// path once (and tries inputs that failed to render again), and the
// workflow runs. The removals of an app being pruned run at once,
// without waiting for their backoff.
func (a *Agent) Reconcile(_ context.Context, app string) error {
	if !a.leading.Load() {
		return api.ErrNotLeader
	}
	removing := a.removals.requeue(app)
	d := a.catalog.app(app)
	if d == nil {
		if removing {
			return nil
		}
		return errUnknownApp(app)
	}
	for _, e := range d.Envs {
		a.reconciler.force(app, e.Name)
	}
	a.work.addWorkflow(app)
	for _, e := range d.Envs {
		a.work.addEnv(app, e.Name)
	}
	return nil
}

// Suspend implements api.Controller: the app's items do nothing until
// Resume. Suspending an app being pruned holds the prune.
func (a *Agent) Suspend(_ context.Context, app string) error {
	if !a.leading.Load() {
		return api.ErrNotLeader
	}
	if a.catalog.app(app) == nil && !a.removals.has(app) {
		return errUnknownApp(app)
	}
	a.store.setSuspended(app, true)
	a.log.Info("application suspended", "app", app)
	return nil
}

// Resume implements api.Controller: it lifts a suspension and resumes
// the workflow's suspended steps. The next workflow run persists it. An
// app being pruned resumes its prune.
func (a *Agent) Resume(_ context.Context, app string) error {
	if !a.leading.Load() {
		return api.ErrNotLeader
	}
	d := a.catalog.app(app)
	if d == nil && !a.removals.has(app) {
		return errUnknownApp(app)
	}
	n := a.driver.resume(app)
	wasSuspended := a.store.setSuspended(app, false)
	if n == 0 && !wasSuspended {
		return fmt.Errorf("application %q is neither suspended nor waiting at a suspend step: %w", app, api.ErrConflict)
	}
	a.log.Info("application resumed", "app", app, "steps", n)
	a.removals.requeue(app)
	if d == nil {
		return nil
	}
	a.work.addWorkflow(app)
	for _, e := range d.Envs {
		a.work.addEnv(app, e.Name)
	}
	return nil
}

// ConfirmPrune implements api.Controller: a person confirms the prune the
// mass-deletion guard holds for source, naming its revision. The source
// loads again and prunes; a later revision is guarded again.
func (a *Agent) ConfirmPrune(_ context.Context, source, revision string) (api.PruneHold, error) {
	if !a.leading.Load() {
		return api.PruneHold{}, api.ErrNotLeader
	}
	h, err := a.catalog.confirmPrune(source, revision)
	if err != nil {
		return api.PruneHold{}, err
	}
	a.log.Warn("held prune confirmed; pruning", "source", source, "revision", h.revision, "apps", h.apps, "deployments", h.gone)
	return api.PruneHold{Revision: h.revision, Apps: h.apps, Items: h.items, Deployments: h.gone, Total: h.total,
		Orphans: h.orphans, Message: "confirmed: pruning " + strings.Join(h.items, ", ")}, nil
}
