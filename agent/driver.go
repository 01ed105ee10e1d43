package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/workflow"
	"github.com/carina-gitops/carina/apply/inventory"
)

// driver is the workflow driver. It owns each app's workflow state and
// which release each env was let deploy (released); it advances the
// steps in the app's workflow item and persists the state in the
// inventories (driver_world.go is the engine's view of the agent).
type driver struct {
	store       *statusStore
	targets     *targetSet
	work        *workers
	httpClient  *http.Client
	now         func() time.Time
	stepTimeout time.Duration
	// holdDrift holds the drift findings of an env read back from its
	// inventory until its applied set is known (a reconcile applies it,
	// or the restorer reads it back), so that an edit made meanwhile is
	// checked then and not missed.
	holdDrift func(app, env string, clusters []string)
	// promoter makes the pull requests of promote steps.
	promoter *promoter

	mu    sync.Mutex
	flows map[string]*flow
}

// flow is the workflow of one app.
type flow struct {
	wf *workflow.State
	// released is the release each env was let deploy.
	released map[string]string
	// restored: the inventories were read after the start.
	restored bool
}

// flowOf returns the flow of app, creating it. d.mu is held.
func (d *driver) flowOf(app string) *flow {
	f := d.flows[app]
	if f == nil {
		f = &flow{released: map[string]string{}}
		d.flows[app] = f
	}
	return f
}

// advance runs the app's workflow item: restore state after a start,
// advance the steps, persist the state when it changed.
func (d *driver) advance(ctx context.Context, app *desiredApp) (time.Duration, error) {
	if err := d.restore(ctx, app); err != nil {
		return 0, err
	}
	if d.store.suspended(app.Name) {
		return 0, nil
	}
	d.mu.Lock()
	f := d.flowOf(app.Name)
	if f.wf == nil || f.wf.Release != app.Release {
		f.wf = workflow.NewState(app.Release)
	}
	enc, err := f.wf.Encode()
	d.mu.Unlock()
	if err != nil {
		return 0, err
	}
	st, err := workflow.Decode(enc) // a private copy to advance outside the lock
	if err != nil {
		return 0, err
	}
	w := &world{d: d, app: app}
	out := workflow.Advance(ctx, app.Plan, st, w, workflow.Options{App: app.Name, Now: d.now, DefaultTimeout: d.stepTimeout})
	d.mu.Lock()
	if cur := d.flowOf(app.Name); cur.wf != nil && cur.wf.Release == st.Release {
		// Keep a Resume that arrived while advancing.
		for name, old := range cur.wf.Steps {
			if nst, ok := st.Steps[name]; ok && old.Resumed && !nst.Resumed && nst.Phase == workflow.Suspended {
				nst.Resumed = true
				out.RequeueAfter = time.Millisecond
			}
		}
	}
	d.flowOf(app.Name).wf = st
	d.mu.Unlock()
	d.releaseDeployed(app, app.Plan.Steps, st)
	if out.Changed && needsState(app.Plan.Steps) {
		if err := d.save(ctx, app, st); err != nil {
			return 0, err
		}
	}
	return out.RequeueAfter, nil
}

// releaseDeployed releases the envs of the deploy steps that succeeded
// at the current release. Advance skips final steps, so after a restart
// that read the workflow state back nothing else would release them:
// their envs would wait for the workflow forever, unwatched for drift
// and unhealed. An env released here is queued once; its first
// reconcile after a start is a full apply, which writes only what
// differs.
func (d *driver) releaseDeployed(app *desiredApp, steps []workflow.Step, st *workflow.State) {
	for _, s := range steps {
		d.releaseDeployed(app, s.SubSteps, st)
		ss, ok := st.Steps[s.Name]
		if s.Type != workflow.TypeDeploy || !ok || ss.Phase != workflow.Succeeded {
			continue
		}
		d.release(app, s.Envs)
	}
}

// release lets envs deploy the app's release and queues those for which
// that is news.
func (d *driver) release(app *desiredApp, envs []string) {
	var queue []string
	d.mu.Lock()
	f := d.flowOf(app.Name)
	for _, e := range envs {
		if f.released[e] != app.Release {
			f.released[e] = app.Release
			queue = append(queue, e)
		}
	}
	d.mu.Unlock()
	for _, e := range queue {
		d.work.addEnv(app.Name, e)
	}
}

// released returns the release env of app was let deploy.
func (d *driver) released(app, env string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if f := d.flows[app]; f != nil {
		return f.released[env]
	}
	return ""
}

// needsState reports whether a workflow has steps whose progress cannot
// be read back from the clusters: a plan of deploy steps only is done
// exactly when every env is applied at its inputs and healthy, which the
// inventories already say.
func needsState(steps []workflow.Step) bool {
	for _, s := range steps {
		if s.Type != workflow.TypeDeploy {
			return true
		}
	}
	return false
}

// save writes the state into the inventory of every env that has one,
// so a restarted agent resumes at the right step.
func (d *driver) save(ctx context.Context, app *desiredApp, st *workflow.State) error {
	enc, err := st.Encode()
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range app.Envs {
		if !d.store.view(app.Name, e.Name).applied.ok || len(e.Clusters) == 0 {
			continue
		}
		t, err := d.targets.get(e.Clusters[0], identityOf(e))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = t.UpdateInventory(ctx, app.Name, e.Name, func(inv *inventory.Inventory) error {
			if inv.Extra == nil {
				inv.Extra = map[string]string{}
			}
			inv.Extra[extraWorkflow] = enc
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("workflow state of %s in %s: %w", app.Name, e.Name, err))
		}
	}
	return errors.Join(errs...)
}

// restore reads, once per app, what the clusters hold: the inventories
// of its envs (applied revision, digest, inputs, health) and the
// workflow state stored with them. An env read back is queued, so that
// one the workflow does not release reads its applied set back for
// drift (restorer).
func (d *driver) restore(ctx context.Context, app *desiredApp) error {
	d.mu.Lock()
	done := d.flowOf(app.Name).restored
	d.mu.Unlock()
	if done {
		return nil
	}
	var best *workflow.State
	for _, e := range app.Envs {
		if len(e.Clusters) == 0 {
			continue
		}
		t, err := d.targets.get(e.Clusters[0], identityOf(e))
		if err != nil {
			return err
		}
		inv, err := t.ReadInventory(ctx, app.Name, e.Name)
		if err != nil {
			return fmt.Errorf("restore %s in %s: %w", app.Name, e.Name, err)
		}
		if inv == nil {
			continue
		}
		if st, err := workflow.Decode(inv.Extra[extraWorkflow]); err == nil && st != nil && (best == nil || st.Release == app.Release) {
			best = st
		}
		applied := appliedState{ok: inv.Result == inventory.ResultSuccess, revision: inv.Revision, digest: inv.Digest, inputs: inv.Extra[extraInputs],
			kubeVersion: inv.Extra[extraKubeVersion]}
		if d.store.restoreApplied(app.Name, e.Name, applied, inv.Health == "Current") {
			d.holdDrift(app.Name, e.Name, e.Clusters)
			d.work.addEnv(app.Name, e.Name)
		}
	}
	d.mu.Lock()
	f := d.flowOf(app.Name)
	if f.wf == nil && best != nil {
		f.wf = best
	}
	f.restored = true
	d.mu.Unlock()
	return nil
}

// state returns a copy of app's workflow state, nil when none.
func (d *driver) state(app string) *workflow.State {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.flows[app]
	if f == nil || f.wf == nil {
		return nil
	}
	enc, err := f.wf.Encode()
	if err != nil {
		return nil
	}
	st, _ := workflow.Decode(enc)
	return st
}

// resume resumes the app's suspended steps and returns how many.
func (d *driver) resume(app string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if f := d.flows[app]; f != nil && f.wf != nil {
		return f.wf.Resume()
	}
	return 0
}

// resetEnv forgets what env of app was released: its status starts
// over, and the workflow releases it again.
func (d *driver) resetEnv(app, env string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if f := d.flows[app]; f != nil {
		delete(f.released, env)
	}
}

// forget drops the workflow of an app that is gone.
func (d *driver) forget(app string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.flows, app)
}

// world is the workflow engine's view of the agent for one app.
type world struct {
	d   *driver
	app *desiredApp
}

var _ workflow.World = (*world)(nil)

// Deploy releases envs at the app's release, queues them when that is
// news, and reports whether they are applied and healthy.
func (w *world) Deploy(_ context.Context, envs []string) workflow.Progress {
	w.d.release(w.app, envs)
	return w.progress(envs)
}

// Healthy reports whether envs are applied at the current inputs and
// healthy.
func (w *world) Healthy(_ context.Context, envs []string) workflow.Progress {
	return w.progress(envs)
}

func (w *world) progress(envs []string) workflow.Progress {
	var waiting []string
	for _, e := range envs {
		v := w.d.store.view(w.app.Name, e)
		switch {
		case v.lastError != nil:
			waiting = append(waiting, e+": "+v.lastError.Message)
		case !v.applied.ok || v.applied.inputs != w.app.Inputs[e]:
			waiting = append(waiting, e+": not applied yet")
		case v.health != api.HealthHealthy:
			waiting = append(waiting, fmt.Sprintf("%s: %s", e, v.health))
		}
	}
	if len(waiting) == 0 {
		return workflow.Progress{Done: true, Message: "applied and healthy"}
	}
	return workflow.Progress{Message: strings.Join(waiting, "; ")}
}

// AppHealthy reports whether every env of another app is healthy, at
// revision when set (a prefix of the commit or the revision string).
func (w *world) AppHealthy(_ context.Context, app, revision string) workflow.Progress {
	return w.d.store.appHealthy(app, revision)
}

// maxNotifyBody bounds what is read of a notify answer.
const maxNotifyBody = 64 << 10

// Notify posts payload as JSON.
func (w *world) Notify(ctx context.Context, url string, payload any) error {
	body, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return errors.New(sanitize(err, time.Time{}).Message)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.d.httpClient.Do(req)
	if err != nil {
		return errors.New(sanitize(err, time.Time{}).Message)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxNotifyBody))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("notify endpoint answered %d", resp.StatusCode)
	}
	return nil
}
