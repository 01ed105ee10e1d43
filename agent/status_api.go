package agent

import (
	"slices"
	"sort"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/workflow"
	"github.com/carina-gitops/carina/apply/health"
)

// statusView is what the API reads: the status store, with the workflow
// state of the driver and the drift findings of the drift book added.
// It takes one lock at a time, never two.
type statusView struct {
	store  *statusStore
	flows  func(app string) *workflow.State
	drifts func(app, env string) []api.DriftStatus
	// sources is the status of the app sources (the catalog's).
	sources func() []api.SourceStatus
}

var _ api.Status = statusView{}

// Apps implements api.Status.
func (v statusView) Apps() []api.AppSummary {
	out := v.store.summaries()
	for i := range out {
		for j := range out[i].Envs {
			e := &out[i].Envs[j]
			e.Drifted = len(v.drifts(out[i].Name, e.Name))
			e.Sync = driftedSync(e.Sync, e.Drifted)
		}
	}
	return out
}

// Sources implements api.Status.
func (v statusView) Sources() []api.SourceStatus { return v.sources() }

// App implements api.Status.
func (v statusView) App(name string) (api.AppStatus, bool) {
	out, plan, ok := v.store.appStatus(name)
	if !ok {
		return out, false
	}
	out.Workflow = stepStatuses(plan.Steps, v.flows(name))
	for i := range out.Envs {
		v.addEnv(&out.Envs[i], out.Workflow)
	}
	return out, true
}

// Env implements api.Status.
func (v statusView) Env(app, env string) (api.EnvStatus, bool) {
	out, plan, ok := v.store.envStatus(app, env)
	if !ok {
		return out, false
	}
	v.addEnv(&out, stepStatuses(plan.Steps, v.flows(app)))
	return out, true
}

func (v statusView) addEnv(e *api.EnvStatus, steps []api.StepStatus) {
	e.Workflow = steps
	e.Drift = v.drifts(e.App, e.Name)
	e.Sync = driftedSync(e.Sync, len(e.Drift))
}

// driftedSync is the env's sync as the API shows it: a Synced env with
// drifted objects is OutOfSync.
func driftedSync(s api.Sync, drifted int) api.Sync {
	if s == api.SyncSynced && drifted > 0 {
		return api.SyncOutOfSync
	}
	return s
}

// summaries lists every app, sorted by name.
func (s *statusStore) summaries() []api.AppSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.apps))
	for n := range s.apps {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]api.AppSummary, 0, len(names))
	for _, n := range names {
		a := s.apps[n]
		sum := api.AppSummary{Name: a.name, Source: a.source, Revision: a.revision, Suspended: a.suspended, Envs: []api.EnvSummary{}}
		if a.err != nil {
			sum.Error = a.err.Message
		}
		for _, en := range a.listed() {
			e := a.env(en)
			es := api.EnvSummary{Name: en, Clusters: e.clusters, Namespace: e.namespace, Pinned: e.pinned, Preview: e.preview,
				Revision: e.applied.revision, Sync: e.sync, Health: e.health, LastReconcile: e.lastReconcile, Warnings: len(e.warnings)}
			if e.lastError != nil {
				es.Error = e.lastError.Message
			}
			sum.Envs = append(sum.Envs, es)
		}
		out = append(out, sum)
	}
	return out
}

// appStatus is the status of one app, without workflow and drift.
func (s *statusStore) appStatus(name string) (api.AppStatus, workflow.Plan, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[name]
	if !ok {
		return api.AppStatus{}, workflow.Plan{}, false
	}
	out := api.AppStatus{Name: a.name, Source: a.source, Revision: a.revision, File: a.file, Suspended: a.suspended,
		Error: a.err, Envs: []api.EnvStatus{}}
	for _, en := range a.listed() {
		out.Envs = append(out.Envs, a.envStatus(en))
	}
	return out, a.plan, true
}

// envStatus is the status of one env, without workflow and drift.
func (s *statusStore) envStatus(app, env string) (api.EnvStatus, workflow.Plan, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[app]
	if !ok || a.envs[env] == nil {
		return api.EnvStatus{}, workflow.Plan{}, false
	}
	return a.envStatus(env), a.plan, true
}

// envStatus builds the API's view of one env. A component's health is
// the one apply computed with the definitions' health policies; each
// object shows its own.
func (a *appRecord) envStatus(name string) api.EnvStatus {
	e := a.env(name)
	out := api.EnvStatus{App: a.name, Name: name, Clusters: e.clusters, Namespace: e.namespace, Pinned: e.pinned, Preview: e.preview, Revision: e.applied.revision,
		Digest: e.applied.digest, Sync: e.sync, Health: e.health, LastReconcile: e.lastReconcile, LastError: e.lastError,
		Warnings: slices.Clone(e.warnings), History: slices.Clone(e.history)}
	byComp := map[string]*api.ComponentStatus{}
	var comps []string
	status := map[string]health.Status{}
	for _, c := range e.components {
		if cur, ok := status[c.Name]; ok {
			c.Status = health.Worst(cur, c.Status)
		}
		status[c.Name] = c.Status
		if byComp[c.Name] == nil {
			byComp[c.Name] = &api.ComponentStatus{Name: c.Name}
			comps = append(comps, c.Name)
		}
		if cs := byComp[c.Name]; cs.Message == "" || c.Status != health.Current {
			cs.Message = c.Message
		}
	}
	for _, o := range e.objects {
		c := byComp[o.Component]
		if c == nil {
			c = &api.ComponentStatus{Name: o.Component}
			byComp[o.Component] = c
			comps = append(comps, o.Component)
			status[o.Component] = o.Status
		}
		c.Objects = append(c.Objects, api.ObjectStatus{Kind: o.ID.Kind, Namespace: o.ID.Namespace, Name: o.ID.Name,
			Health: api.HealthOf(o.Status), Message: o.Message, Action: e.actions[o.ID.String()]})
	}
	for _, n := range comps {
		c := byComp[n]
		c.Health = api.HealthOf(status[n])
		if c.Health == api.HealthHealthy {
			c.Message = ""
		}
		out.Components = append(out.Components, *c)
	}
	return out
}

func stepStatuses(steps []workflow.Step, st *workflow.State) []api.StepStatus {
	out := make([]api.StepStatus, 0, len(steps))
	for _, s := range steps {
		ss := api.StepStatus{Name: s.Name, Type: s.Type, Phase: api.StepPending}
		if st != nil {
			if x, ok := st.Steps[s.Name]; ok {
				ss.Phase, ss.Message, ss.StartedAt, ss.FinishedAt = api.StepPhase(x.Phase), x.Message, x.Started, x.Finished
			}
		}
		if len(s.SubSteps) > 0 {
			ss.SubSteps = stepStatuses(s.SubSteps, st)
		}
		out = append(out, ss)
	}
	return out
}
