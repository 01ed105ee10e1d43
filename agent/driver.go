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
	"time"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/workflow"
	"github.com/carina-gitops/carina/apply/inventory"
)

// advanceWorkflow runs the app's workflow item: restore state after a
// start, advance the steps, persist the state when it changed.
func (a *Agent) advanceWorkflow(ctx context.Context, app string) (time.Duration, error) {
	d := a.desiredApp(app)
	if d == nil {
		return 0, nil
	}
	if err := a.restore(ctx, d); err != nil {
		return 0, err
	}
	s := a.store
	s.mu.Lock()
	ar := s.app(app)
	if ar.suspended {
		s.mu.Unlock()
		return 0, nil
	}
	if ar.wf == nil || ar.wf.Release != d.Release {
		ar.wf = workflow.NewState(d.Release)
	}
	enc, err := ar.wf.Encode()
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}
	st, err := workflow.Decode(enc) // a private copy to advance outside the lock
	if err != nil {
		return 0, err
	}
	out := workflow.Advance(ctx, d.Plan, st, &world{a: a, d: d}, workflow.Options{
		App: app, Now: a.now, DefaultTimeout: a.cfg.Reconcile.StepTimeout,
	})
	s.mu.Lock()
	if cur := s.app(app); cur.wf != nil && cur.wf.Release == st.Release {
		// Keep a Resume that arrived while advancing.
		for name, old := range cur.wf.Steps {
			if nst, ok := st.Steps[name]; ok && old.Resumed && !nst.Resumed && nst.Phase == workflow.Suspended {
				nst.Resumed = true
				out.RequeueAfter = time.Millisecond
			}
		}
	}
	s.app(app).wf = st
	s.mu.Unlock()
	a.releaseDeployed(ctx, d, d.Plan.Steps, st)
	if out.Changed && needsState(d.Plan.Steps) {
		if err := a.saveWorkflow(ctx, d, st); err != nil {
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
func (a *Agent) releaseDeployed(ctx context.Context, d *desiredApp, steps []workflow.Step, st *workflow.State) {
	for _, s := range steps {
		a.releaseDeployed(ctx, d, s.SubSteps, st)
		ss, ok := st.Steps[s.Name]
		if s.Type != workflow.TypeDeploy || !ok || ss.Phase != workflow.Succeeded {
			continue
		}
		(&world{a: a, d: d}).Deploy(ctx, s.Envs)
	}
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

// saveWorkflow writes the state into the inventory of every env that has
// one, so a restarted agent resumes at the right step.
func (a *Agent) saveWorkflow(ctx context.Context, d *desiredApp, st *workflow.State) error {
	enc, err := st.Encode()
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range d.Envs {
		s := a.store
		s.mu.Lock()
		applied := s.app(d.Name).env(e.Name).applied
		s.mu.Unlock()
		if !applied || len(e.Clusters) == 0 {
			continue
		}
		t, err := a.target(e.Clusters[0])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = t.UpdateInventory(ctx, d.Name, e.Name, func(inv *inventory.Inventory) error {
			if inv.Extra == nil {
				inv.Extra = map[string]string{}
			}
			inv.Extra[extraWorkflow] = enc
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("workflow state of %s in %s: %w", d.Name, e.Name, err))
		}
	}
	return errors.Join(errs...)
}

// restore reads, once per app, what the clusters hold: the inventories
// of its envs (applied revision, digest, inputs, health) and the
// workflow state stored with them.
func (a *Agent) restore(ctx context.Context, d *desiredApp) error {
	s := a.store
	s.mu.Lock()
	done := s.app(d.Name).restored
	s.mu.Unlock()
	if done {
		return nil
	}
	var best *workflow.State
	for _, e := range d.Envs {
		if len(e.Clusters) == 0 {
			continue
		}
		t, err := a.target(e.Clusters[0])
		if err != nil {
			return err
		}
		inv, err := t.ReadInventory(ctx, d.Name, e.Name)
		if err != nil {
			return fmt.Errorf("restore %s in %s: %w", d.Name, e.Name, err)
		}
		if inv == nil {
			continue
		}
		if st, err := workflow.Decode(inv.Extra[extraWorkflow]); err == nil && st != nil && (best == nil || st.Release == d.Release) {
			best = st
		}
		s.mu.Lock()
		er := s.app(d.Name).env(e.Name)
		readBack := !er.applied && inv.Result == inventory.ResultSuccess
		if !er.applied {
			er.applied = inv.Result == inventory.ResultSuccess
			er.inputs, er.revision, er.digest = inv.Extra[extraInputs], inv.Revision, inv.Digest
			if inv.Health == "Current" {
				er.health = api.HealthHealthy
			}
		}
		s.mu.Unlock()
		if readBack {
			// Look at it again with what the cluster holds: an env the
			// workflow does not release reads its applied state back
			// for drift (restoreIntent).
			a.enqueueEnv(d.Name, e.Name)
		}
	}
	s.mu.Lock()
	ar := s.app(d.Name)
	if ar.wf == nil && best != nil {
		ar.wf = best
	}
	ar.restored = true
	s.mu.Unlock()
	return nil
}

// world is the workflow engine's view of the agent for one app.
type world struct {
	a *Agent
	d *desiredApp
}

// Deploy releases envs at the app's release, queues them when that is
// news, and reports whether they are applied and healthy.
func (w *world) Deploy(_ context.Context, envs []string) workflow.Progress {
	s := w.a.store
	var queue []string
	s.mu.Lock()
	for _, e := range envs {
		er := s.app(w.d.Name).env(e)
		if er.released != w.d.Release {
			er.released = w.d.Release
			queue = append(queue, e)
		}
	}
	s.mu.Unlock()
	for _, e := range queue {
		w.a.enqueueEnv(w.d.Name, e)
	}
	return w.progress(envs)
}

// Healthy reports whether envs are applied at the current inputs and
// healthy.
func (w *world) Healthy(_ context.Context, envs []string) workflow.Progress {
	return w.progress(envs)
}

func (w *world) progress(envs []string) workflow.Progress {
	s := w.a.store
	s.mu.Lock()
	defer s.mu.Unlock()
	var waiting []string
	for _, e := range envs {
		er := s.app(w.d.Name).env(e)
		switch {
		case er.lastError != nil:
			waiting = append(waiting, e+": "+er.lastError.Message)
		case !er.applied || er.inputs != w.d.Inputs[e]:
			waiting = append(waiting, e+": not applied yet")
		case er.health != api.HealthHealthy:
			waiting = append(waiting, fmt.Sprintf("%s: %s", e, er.health))
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
	s := w.a.store
	s.mu.Lock()
	defer s.mu.Unlock()
	ar, ok := s.apps[app]
	if !ok || len(ar.envOrder) == 0 {
		return workflow.Progress{Message: "application " + app + " is not known yet"}
	}
	for _, en := range ar.envOrder {
		er := ar.envs[en]
		if er.health != api.HealthHealthy || !er.applied {
			return workflow.Progress{Message: fmt.Sprintf("application %s env %s is %s", app, en, er.health)}
		}
		if revision != "" && !strings.Contains(er.revision, revision) {
			return workflow.Progress{Message: fmt.Sprintf("application %s env %s is at %s, not %s", app, en, er.revision, revision)}
		}
	}
	return workflow.Progress{Done: true}
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
	resp, err := w.a.httpClient.Do(req)
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
