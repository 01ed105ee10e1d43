package agent

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/workflow"
	"github.com/carina-gitops/carina/apply"
)

// statusStore is the one record of what the agent knows of each
// application and environment: what the clusters hold (applied), how the
// last reconcile went, health and history. The API and `carina status`
// read it (through statusView, which adds the workflow and drift). Every
// change goes through a method; no caller holds its lock.
type statusStore struct {
	mu      sync.Mutex
	apps    map[string]*appRecord
	history int
}

// appRecord is the status of one application.
type appRecord struct {
	name, source, revision, file string
	suspended                    bool
	err                          *api.ErrorStatus
	plan                         workflow.Plan
	envOrder                     []string
	envs                         map[string]*envRecord
	// previews are the app's preview environments (previews.go).
	previews []string
}

// envRecord is the status of one (app, env).
type envRecord struct {
	clusters  []string
	namespace string
	// pinned is the revision the env is pinned to, "" when it follows
	// the branch head.
	pinned string
	// preview is the pull request of a preview env.
	preview *api.PreviewStatus
	// applied: what the clusters hold, from our applies or the inventory.
	applied appliedState
	sync    api.Sync
	health  api.Health
	// objects are the live objects' own health; components the health of
	// each component with the definitions' health policies applied.
	objects       []ObjectHealth
	components    []apply.ComponentHealth
	actions       map[string]string // object -> last action
	lastReconcile time.Time
	lastError     *api.ErrorStatus
	// terminal is the inputs digest (and cluster version, see
	// terminalKey) whose render or validation failed: those inputs are
	// not tried again (see errTerminal).
	terminal string
	// warnings are the last successful render's (see setWarnings).
	warnings []string
	history  []api.Reconcile
}

// appliedState is what the clusters of an env hold.
type appliedState struct {
	ok                       bool
	revision, digest, inputs string
	// kubeVersion is the cluster version the set was rendered for; ""
	// for the default.
	kubeVersion string
	// set is what the last apply sent, for health and drift on the fast
	// path, without its Secret values (apply.Set.WithoutSecretValues: a
	// correction of a Secret renders again); nil when the state came
	// from an inventory after a restart and could not be read back.
	set *apply.Set
}

func newStatusStore(history int) *statusStore {
	return &statusStore{apps: map[string]*appRecord{}, history: history}
}

// app returns the record of name, creating it. s.mu is held.
func (s *statusStore) app(name string) *appRecord {
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
		e = &envRecord{sync: api.SyncUnknown, health: api.HealthUnknown, actions: map[string]string{}}
		a.envs[name] = e
	}
	return e
}

// with runs fn on the record of (app, env) under the lock.
func (s *statusStore) with(app, env string, fn func(*envRecord)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.app(app).env(env))
}

// envView is a copy of what a reconcile reads of an env's record.
type envView struct {
	applied   appliedState
	clusters  []string
	namespace string
	health    api.Health
	sync      api.Sync
	lastError *api.ErrorStatus
	terminal  string
	known     bool
}

// view returns a copy of the record of (app, env) without creating it.
func (s *statusStore) view(app, env string) envView {
	s.mu.Lock()
	defer s.mu.Unlock()
	ar, ok := s.apps[app]
	if !ok || ar.envs[env] == nil {
		return envView{}
	}
	e := ar.envs[env]
	return envView{applied: e.applied, clusters: slices.Clone(e.clusters), namespace: e.namespace, health: e.health,
		sync: e.sync, lastError: e.lastError, terminal: e.terminal, known: true}
}

// suspended reports whether app is suspended.
func (s *statusStore) suspended(app string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ar, ok := s.apps[app]
	return ok && ar.suspended
}

// setSuspended suspends or resumes app and returns what it was.
func (s *statusStore) setSuspended(app string, on bool) (was bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ar := s.app(app)
	was, ar.suspended = ar.suspended, on
	return was
}

// setApplied records a successful apply of (app, env).
func (s *statusStore) setApplied(app, env string, st appliedState, actions map[string]string) {
	s.with(app, env, func(e *envRecord) {
		e.applied, e.actions, e.terminal = st, actions, ""
	})
}

// setAppliedSet records the set read back for an env applied at rev
// (restore), and its render's warnings when no render since the start
// recorded any, and reports whether the set was still missing.
func (s *statusStore) setAppliedSet(app, env, rev string, set *apply.Set, warnings []string) bool {
	ok := false
	s.with(app, env, func(e *envRecord) {
		if ok = e.applied.set == nil && e.applied.revision == rev; ok {
			e.applied.set = set
			if e.warnings == nil {
				e.warnings = boundWarnings(warnings)
			}
		}
	})
	return ok
}

// maxWarnings bounds the warnings status keeps of one env.
const maxWarnings = 20

// setWarnings records the warnings of a successful render of (app, env):
// they stay until the next successful render.
func (s *statusStore) setWarnings(app, env string, warnings []string) {
	s.with(app, env, func(e *envRecord) { e.warnings = boundWarnings(warnings) })
}

// boundWarnings drops repeated warnings and keeps at most maxWarnings,
// the last of them saying how many were left out. It never returns nil,
// so that "rendered without warnings" differs from "not rendered yet".
func boundWarnings(ws []string) []string {
	out := make([]string, 0, min(len(ws), maxWarnings))
	seen := make(map[string]bool, len(ws))
	for _, w := range ws {
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	if len(out) > maxWarnings {
		n := len(out) - (maxWarnings - 1)
		out = append(out[:maxWarnings-1], fmt.Sprintf("… and %d more warnings", n))
	}
	return out
}

// restoreApplied takes what an inventory says an env holds, when nothing
// was applied since the start, and reports whether it did.
func (s *statusStore) restoreApplied(app, env string, st appliedState, healthy bool) bool {
	took := false
	s.with(app, env, func(e *envRecord) {
		if e.applied.ok {
			return
		}
		took, e.applied = st.ok, st
		if healthy {
			e.health = api.HealthHealthy
		}
	})
	return took
}

// fail records a failed reconcile: the last applied state stays, sync is
// Stalled; terminal names the inputs not to try again.
func (s *statusStore) fail(app, env string, es *api.ErrorStatus, terminal string) {
	s.with(app, env, func(e *envRecord) {
		e.lastError, e.sync, e.terminal = es, api.SyncStalled, terminal
	})
}

// finish records the end of a reconcile and returns what the metrics
// show of the env. A health report clears the error.
func (s *statusStore) finish(app, env string, now time.Time, rec api.Reconcile, h *healthResult) (clusters []string, rev string, health api.Health, sync api.Sync) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.app(app).env(env)
	e.lastReconcile = now
	if h != nil {
		e.health, e.objects, e.components, e.lastError, e.sync = h.health, h.objects, h.components, nil, api.SyncSynced
	}
	e.addHistory(rec, s.history)
	return slices.Clone(e.clusters), e.applied.revision, e.health, e.sync
}

// addHistory puts r first and keeps the newest n. A failure equal to the
// newest entry's (same result, reason and error) only counts up there,
// so that a failing env does not fill its history with copies.
func (e *envRecord) addHistory(r api.Reconcile, n int) {
	if len(e.history) > 0 {
		if h := &e.history[0]; r.Error != "" && h.Error == r.Error && h.Result == r.Result && h.Reason == r.Reason && h.Revision == r.Revision {
			count := max(h.Count, 1) + 1
			*h = r
			h.Count = count
			return
		}
	}
	e.history = append([]api.Reconcile{r}, e.history...)
	if len(e.history) > n {
		e.history = e.history[:n]
	}
}

// correctedActions records the actions of a drift correction.
func (s *statusStore) correctedActions(app, env string, actions map[string]string) {
	s.with(app, env, func(e *envRecord) { maps.Copy(e.actions, actions) })
}

// updateApps refreshes the records of apps just loaded: where they come
// from, their envs (clusters and namespace) and their plans. An env whose
// inputs moved on from what it holds is OutOfSync. Environments being
// pruned stay listed after the app's own. It returns the apps seen for
// the first time.
func (s *statusStore) updateApps(apps []*desiredApp) []*desiredApp {
	s.mu.Lock()
	defer s.mu.Unlock()
	var added []*desiredApp
	for _, d := range apps {
		if _, known := s.apps[d.Name]; !known {
			added = append(added, d)
		}
		ar := s.app(d.Name)
		ar.source, ar.revision, ar.file, ar.plan, ar.err = d.Source, d.Snapshot.Revision(), d.App.Pos.String(), d.Plan, nil
		ar.envOrder = ar.envOrder[:0]
		for _, e := range d.Envs {
			ar.envOrder = append(ar.envOrder, e.Name)
			er := ar.env(e.Name)
			er.clusters, er.namespace, er.pinned = e.Clusters, e.Namespace, ""
			if p := d.Pinned[e.Name]; p != nil {
				er.pinned = p.Revision
			}
			if er.sync == api.SyncStalled && er.lastError == nil {
				er.sync = api.SyncSynced
			}
			if er.applied.ok && er.applied.inputs != d.Inputs[e.Name] && er.sync == api.SyncSynced {
				er.sync = api.SyncOutOfSync
			}
		}
		for _, en := range slices.Sorted(maps.Keys(ar.envs)) {
			if ar.envs[en].sync == api.SyncPruning && !slices.Contains(ar.envOrder, en) {
				ar.envOrder = append(ar.envOrder, en)
			}
		}
	}
	return added
}

// setAppError sets (or clears, with nil) the error of the apps. With
// stall, their envs show Stalled while es is set, and Synced again when
// it clears (unless a reconcile failed). Envs being pruned keep Pruning.
func (s *statusStore) setAppError(apps []string, es *api.ErrorStatus, stall bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range apps {
		ar := s.app(name)
		ar.err = es
		if !stall {
			continue
		}
		for _, er := range ar.envs {
			switch {
			case er.sync == api.SyncPruning:
			case es != nil:
				er.sync = api.SyncStalled
			case er.sync == api.SyncStalled && er.lastError == nil:
				er.sync = api.SyncSynced
			}
		}
	}
}

// appHealthy reports whether every env of app is applied and healthy,
// at revision when set (a prefix of the commit or the revision string).
func (s *statusStore) appHealthy(app, revision string) workflow.Progress {
	s.mu.Lock()
	defer s.mu.Unlock()
	ar, ok := s.apps[app]
	if !ok || len(ar.envOrder) == 0 {
		return workflow.Progress{Message: "application " + app + " is not known yet"}
	}
	for _, en := range ar.envOrder {
		er := ar.env(en)
		if er.health != api.HealthHealthy || !er.applied.ok {
			return workflow.Progress{Message: fmt.Sprintf("application %s env %s is %s", app, en, er.health)}
		}
		if revision != "" && !strings.Contains(er.applied.revision, revision) {
			return workflow.Progress{Message: fmt.Sprintf("application %s env %s is at %s, not %s", app, en, er.applied.revision, revision)}
		}
	}
	return workflow.Progress{Done: true}
}

// appFile returns the file that defines app ("" when unknown).
func (s *statusStore) appFile(app string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ar, ok := s.apps[app]; ok {
		return ar.file
	}
	return ""
}

// pruneView is a removal of a whole environment, as status shows it.
type pruneView struct {
	app, env, source, reason string
	// whole: the app left its source, not only the env.
	whole    bool
	clusters []string
}

// pruning shows removals of whole environments in status.
func (s *statusStore) pruning(views []pruneView, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range views {
		ar := s.app(v.app)
		es := &api.ErrorStatus{Message: v.reason + "; pruning", Time: at}
		if v.whole {
			ar.source, ar.err = v.source, es
		}
		er := ar.env(v.env)
		er.sync, er.clusters, er.lastError = api.SyncPruning, mergeSorted(er.clusters, v.clusters), es
		if !slices.Contains(ar.envOrder, v.env) {
			ar.envOrder = append(ar.envOrder, v.env)
		}
	}
}

// setRemovalError shows msg on a removed env, and on its app when the
// whole app is going.
func (s *statusStore) setRemovalError(app, env string, whole bool, msg string, at time.Time) {
	es := &api.ErrorStatus{Message: msg, Time: at}
	s.mu.Lock()
	defer s.mu.Unlock()
	ar := s.app(app)
	if whole {
		ar.err = es
	}
	er := ar.env(env)
	er.sync, er.lastError = api.SyncPruning, es
}

// forgetEnv drops the record of (app, env) (a removal ended, or its
// status starts over), and the app's once gone is set.
func (s *statusStore) forgetEnv(app, env string, appGone bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ar, ok := s.apps[app]
	if !ok {
		return
	}
	delete(ar.envs, env)
	ar.envOrder = slices.DeleteFunc(ar.envOrder, func(e string) bool { return e == env })
	if appGone {
		delete(s.apps, app)
	}
}

// resetEnv starts the record of (app, env) over, when it has one.
func (s *statusStore) resetEnv(app, env string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ar, ok := s.apps[app]; ok && ar.envs[env] != nil {
		delete(ar.envs, env)
		ar.env(env)
	}
}

// forgetApp drops the record of app.
func (s *statusStore) forgetApp(app string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.apps, app)
}

// mergeSorted returns the sorted union of a and b.
func mergeSorted(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}
