package agent

import (
	"context"
	"fmt"

	"github.com/carina-gitops/carina/source"
)

// reportRewrite tells of a force-push: the source's new head does not
// descend from the applied one. The new head is applied as any other
// (Git is the truth), but a rewritten history may drop commits someone
// relied on, so a log line and a Warning Event in each environment of
// the apps that came from the old history name both commits.
func (f *feed) reportRewrite(ctx context.Context, st *sourceState, u source.Update, appSrcs []*sourceState) {
	if u.Previous == nil || u.Snapshot == nil {
		return
	}
	prev, next := u.Previous.Commit, u.Snapshot.Commit
	f.log.Warn("history rewritten", "source", st.cfg.Name, "previous", prev, "revision", u.Snapshot.Revision())
	msg := fmt.Sprintf("history rewritten: source %s moved from %s to %s, which does not descend from it (a force-push); the new head is applied",
		st.cfg.Name, prev, next)
	for _, s := range appSrcs {
		for _, name := range f.catalog.appsOf(s) {
			if d := f.catalog.app(name); d != nil {
				f.events.appWarning(ctx, d, "HistoryRewritten", msg)
			}
		}
	}
}
