package agent

import (
	"cmp"
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/carina-gitops/carina/source"
)

// reportRewrite tells of a force-push: the source's new head does not
// descend from the applied one. The new head is applied as any other
// (Git is the truth), but a rewritten history may drop commits someone
// relied on, so a log line and a Warning Event in each environment of
// the apps that came from the old history name both commits.
func (f *feed) reportRewrite(st *sourceState, u source.Update, appSrcs []*sourceState) {
	if u.Previous == nil || u.Snapshot == nil {
		return
	}
	prev, next := u.Previous.Commit, u.Snapshot.Commit
	f.log.Warn("history rewritten", "source", st.cfg.Name, "previous", prev, "revision", u.Snapshot.Revision())
	msg := fmt.Sprintf("history rewritten: source %s moved from %s to %s, which does not descend from it (a force-push); the new head is applied",
		st.cfg.Name, prev, next)
	for _, s := range appSrcs {
		for _, name := range f.catalog.appsOf(s) {
			d := f.catalog.app(name)
			if d == nil {
				continue
			}
			for _, e := range d.Envs {
				ns := cmp.Or(e.Namespace, d.App.Namespace, "default")
				for _, c := range e.Clusters {
					f.events.post(context.Background(), c, Event{App: name, Env: e.Name, Namespace: ns,
						Type: corev1.EventTypeWarning, Reason: "HistoryRewritten", Message: msg})
				}
			}
		}
	}
}
