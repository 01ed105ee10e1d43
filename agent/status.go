package agent

import (
	"errors"
	"regexp"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/workflow"
	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/source"
)

// appRecord is the agent's view of one application.
type appRecord struct {
	name, source, revision, file string
	suspended, restored          bool
	err                          *api.ErrorStatus
	wf                           *workflow.State
	plan                         workflow.Plan
	envOrder                     []string
	envs                         map[string]*envRecord
}

// envRecord is the agent's view of one (app, env).
type envRecord struct {
	clusters  []string
	namespace string
	// applied: what the clusters hold, from our applies or the inventory.
	revision, digest, inputs string
	applied                  bool
	// set is what our last apply sent, for health checks on the fast path;
	// nil when the state came from the inventory after a restart.
	set           *apply.Set
	sync          api.Sync
	health        api.Health
	objects       []ObjectHealth
	actions       map[string]string // object -> last action
	lastReconcile time.Time
	lastError     *api.ErrorStatus
	history       []api.Reconcile
	// released is the release the workflow let this env deploy.
	released string
	// force makes the next reconcile skip the fast path.
	force bool
	// drift are the objects found drifted, by drift.Finding.Key.
	drift map[string]*driftEntry
	// intentTried is the applied revision whose set a restarted agent
	// tried to read back (restoreIntent).
	intentTried string
}

// store holds every record; one mutex guards it all.
type store struct {
	mu      sync.Mutex
	apps    map[string]*appRecord
	history int
}

func newStore(history int) *store {
	return &store{apps: map[string]*appRecord{}, history: history}
}

// app returns the record of name, creating it.
func (s *store) app(name string) *appRecord {
	a, ok := s.apps[name]
	if !ok {
		a = &appRecord{name: name, envs: map[string]*envRecord{}}
		s.apps[name] = a
	}
	return a
}

// env returns the record of (app, env), creating it.
func (a *appRecord) env(name string) *envRecord {
	e, ok := a.envs[name]
	if !ok {
		e = &envRecord{sync: api.SyncUnknown, health: api.HealthUnknown, actions: map[string]string{}, drift: map[string]*driftEntry{}}
		a.envs[name] = e
	}
	return e
}

// syncStatus is the env's sync as the API shows it: a Synced env with
// drifted objects is OutOfSync.
func (e *envRecord) syncStatus() api.Sync {
	if e.sync == api.SyncSynced && len(e.drift) > 0 {
		return api.SyncOutOfSync
	}
	return e.sync
}

// addHistory puts r first and keeps the newest n.
func (e *envRecord) addHistory(r api.Reconcile, n int) {
	e.history = append([]api.Reconcile{r}, e.history...)
	if len(e.history) > n {
		e.history = e.history[:n]
	}
}

// Apps implements api.Status.
func (s *store) Apps() []api.AppSummary {
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
		for _, en := range a.envOrder {
			e := a.envs[en]
			sum.Envs = append(sum.Envs, api.EnvSummary{Name: en, Clusters: e.clusters, Namespace: e.namespace,
				Revision: e.revision, Sync: e.syncStatus(), Health: e.health, LastReconcile: e.lastReconcile, Drifted: len(e.drift)})
		}
		out = append(out, sum)
	}
	return out
}

// App implements api.Status.
func (s *store) App(name string) (api.AppStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[name]
	if !ok {
		return api.AppStatus{}, false
	}
	out := api.AppStatus{Name: a.name, Source: a.source, Revision: a.revision, File: a.file, Suspended: a.suspended,
		Workflow: stepStatuses(a.plan.Steps, a.wf), Error: a.err, Envs: []api.EnvStatus{}}
	for _, en := range a.envOrder {
		out.Envs = append(out.Envs, a.envStatus(en))
	}
	return out, true
}

// Env implements api.Status.
func (s *store) Env(app, env string) (api.EnvStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[app]
	if !ok || a.envs[env] == nil {
		return api.EnvStatus{}, false
	}
	return a.envStatus(env), true
}

func (a *appRecord) envStatus(name string) api.EnvStatus {
	e := a.envs[name]
	out := api.EnvStatus{App: a.name, Name: name, Clusters: e.clusters, Namespace: e.namespace, Revision: e.revision,
		Digest: e.digest, Sync: e.syncStatus(), Health: e.health, LastReconcile: e.lastReconcile, LastError: e.lastError,
		Drift: e.driftStatuses(), History: slices.Clone(e.history), Workflow: stepStatuses(a.plan.Steps, a.wf)}
	byComp := map[string]*api.ComponentStatus{}
	var comps []string
	for _, o := range e.objects {
		c := byComp[o.Component]
		if c == nil {
			c = &api.ComponentStatus{Name: o.Component, Health: api.HealthHealthy}
			byComp[o.Component] = c
			comps = append(comps, o.Component)
		}
		h := api.HealthOf(o.Status)
		c.Objects = append(c.Objects, api.ObjectStatus{Kind: o.ID.Kind, Namespace: o.ID.Namespace, Name: o.ID.Name,
			Health: h, Message: o.Message, Action: e.actions[o.ID.String()]})
		c.Health = worse(c.Health, h)
		if h != api.HealthHealthy && c.Message == "" {
			c.Message = o.ID.String() + ": " + o.Message
		}
	}
	for _, n := range comps {
		out.Components = append(out.Components, *byComp[n])
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

var healthRank = map[api.Health]int{api.HealthHealthy: 0, api.HealthProgressing: 1, api.HealthUnknown: 2, api.HealthMissing: 3, api.HealthDegraded: 4}

func worse(a, b api.Health) api.Health {
	if healthRank[b] > healthRank[a] {
		return b
	}
	return a
}

// rollup is the worst health of objects; Healthy for none.
func rollup(objs []ObjectHealth) api.Health {
	h := api.HealthHealthy
	for _, o := range objs {
		h = worse(h, api.HealthOf(o.Status))
	}
	return h
}

// maxErrorBytes bounds an error in status.
const maxErrorBytes = 4096

var leadingPos = regexp.MustCompile(`^([^\s:]+:\d+(?::\d+)?): `)

// sanitize makes an error safe for status, events and logs: URLs lose
// credentials and queries, and it is bounded. The position is the first
// file:line:col the error carries.
func sanitize(err error, at time.Time) *api.ErrorStatus {
	if err == nil {
		return nil
	}
	msg := source.Redact(err.Error())
	if len(msg) > maxErrorBytes {
		msg = msg[:maxErrorBytes] + "…"
	}
	es := &api.ErrorStatus{Message: msg, Time: at}
	var list appfile.ErrorList
	if asList(err, &list) && len(list) > 0 {
		es.Position = list[0].Pos.String()
	} else if m := leadingPos.FindStringSubmatch(msg); m != nil {
		es.Position = m[1]
	}
	return es
}

func asList(err error, list *appfile.ErrorList) bool { return errors.As(err, list) }
