package agent

import (
	"context"
	"fmt"

	"github.com/carina-gitops/carina/agent/api"
)

// Status returns the agent's status, for the API.
func (a *Agent) Status() api.Status { return a.store }

// Reconcile implements api.Controller: every env of app skips the fast
// path once, and the workflow runs. The removals of an app being pruned
// run at once, without waiting for their backoff.
func (a *Agent) Reconcile(_ context.Context, app string) error {
	if !a.leading.Load() {
		return api.ErrNotLeader
	}
	removing := a.requeueRemovals(app)
	d := a.desiredApp(app)
	if d == nil {
		if removing {
			return nil
		}
		return errUnknownApp(app)
	}
	a.store.mu.Lock()
	for _, e := range d.Envs {
		a.store.app(app).env(e.Name).force = true
	}
	a.store.mu.Unlock()
	a.enqueueWorkflow(app)
	for _, e := range d.Envs {
		a.enqueueEnv(app, e.Name)
	}
	return nil
}

// Suspend implements api.Controller: the app's items do nothing until
// Resume. Suspending an app being pruned holds the prune.
func (a *Agent) Suspend(_ context.Context, app string) error {
	if !a.leading.Load() {
		return api.ErrNotLeader
	}
	if a.desiredApp(app) == nil && !a.removing(app) {
		return errUnknownApp(app)
	}
	a.store.mu.Lock()
	a.store.app(app).suspended = true
	a.store.mu.Unlock()
	a.log.Info("application suspended", "app", app)
	return nil
}

// Resume implements api.Controller: it lifts a suspension and resumes
// the workflow's suspended steps. The next workflow run persists it. An
// app being pruned resumes its prune.
func (a *Agent) Resume(ctx context.Context, app string) error {
	if !a.leading.Load() {
		return api.ErrNotLeader
	}
	d := a.desiredApp(app)
	if d == nil && !a.removing(app) {
		return errUnknownApp(app)
	}
	a.store.mu.Lock()
	ar := a.store.app(app)
	n := 0
	if ar.wf != nil {
		n = ar.wf.Resume()
	}
	wasSuspended := ar.suspended
	ar.suspended = false
	a.store.mu.Unlock()
	if n == 0 && !wasSuspended {
		return fmt.Errorf("application %q is neither suspended nor waiting at a suspend step: %w", app, api.ErrConflict)
	}
	a.log.Info("application resumed", "app", app, "steps", n)
	a.requeueRemovals(app)
	if d == nil {
		return nil
	}
	a.enqueueWorkflow(app)
	for _, e := range d.Envs {
		a.enqueueEnv(app, e.Name)
	}
	return nil
}

var _ api.Controller = (*Agent)(nil)
