package agent

import (
	"fmt"
	"slices"

	"github.com/carina-gitops/carina/agent/api"
)

// setDesired replaces the apps of an app source and queues exactly the
// (app, env) items whose inputs changed, plus the workflow of every app
// whose release changed. Apps that left the source lose their series and
// status; their objects stay in the clusters.
func (a *Agent) setDesired(st *sourceState, apps []*desiredApp) {
	var queueEnvs [][2]string
	var queueApps []string
	a.mu.Lock()
	keep := map[string]bool{}
	for _, d := range apps {
		if prev := a.desired[d.Name]; prev != nil && prev.Source != d.Source {
			a.log.Warn("application is defined by two sources", "app", d.Name, "source", d.Source, "other", prev.Source)
			continue
		}
		keep[d.Name] = true
		prev := a.desired[d.Name]
		a.desired[d.Name] = d
		if prev == nil || prev.Release != d.Release {
			queueApps = append(queueApps, d.Name)
		}
		for _, e := range d.Envs {
			if prev == nil || prev.Inputs[e.Name] != d.Inputs[e.Name] {
				queueEnvs = append(queueEnvs, [2]string{d.Name, e.Name})
			}
		}
	}
	var gone []string
	for _, name := range st.apps {
		if !keep[name] {
			delete(a.desired, name)
			gone = append(gone, name)
		}
	}
	st.apps = st.apps[:0]
	for name := range keep {
		st.apps = append(st.apps, name)
	}
	slices.Sort(st.apps)
	a.mu.Unlock()

	a.updateRecords(apps, keep)
	for _, name := range gone {
		a.store.mu.Lock()
		delete(a.store.apps, name)
		a.store.mu.Unlock()
		a.rec.DeleteApp(name)
		a.log.Info("application removed from its source", "app", name, "source", st.cfg.Name)
	}
	for _, name := range queueApps {
		a.enqueueWorkflow(name)
	}
	for _, ie := range queueEnvs {
		a.enqueueEnv(ie[0], ie[1])
	}
}

// updateRecords refreshes the status records of the apps.
func (a *Agent) updateRecords(apps []*desiredApp, keep map[string]bool) {
	s := a.store
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range apps {
		if !keep[d.Name] {
			continue
		}
		_, known := s.apps[d.Name]
		ar := s.app(d.Name)
		ar.source, ar.revision, ar.file, ar.plan, ar.err = d.Source, d.Snapshot.Revision(), d.App.Pos.String(), d.Plan, nil
		ar.envOrder = ar.envOrder[:0]
		for _, e := range d.Envs {
			ar.envOrder = append(ar.envOrder, e.Name)
			er := ar.env(e.Name)
			er.clusters, er.namespace = e.Clusters, e.Namespace
			if er.sync == api.SyncStalled && er.lastError == nil {
				er.sync = api.SyncSynced
			}
			if er.applied && er.inputs != d.Inputs[e.Name] && er.sync == api.SyncSynced {
				er.sync = api.SyncOutOfSync
			}
			if !known {
				a.rec.InitApp(d.Name, e.Name, e.Clusters...)
			}
		}
	}
}

// errUnknownApp is the error of API calls naming no app.
func errUnknownApp(app string) error {
	return fmt.Errorf("application %q: %w", app, api.ErrNotFound)
}
