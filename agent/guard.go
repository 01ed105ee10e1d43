package agent

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/config"
)

// The mass-deletion guard. A snapshot (or, after a restart, an orphan
// collection) that would remove every deployment of a source, or more
// than its maxPruneFraction, prunes nothing: the apps keep their last
// desired state and the source holds the prune until a person confirms
// that revision. A deployment is one (app, env, cluster); so the guard
// counts apps, environments and clusters that leave alike.

// loss is what one load would remove of one app: the whole app, or
// clusters of its environments.
type loss struct {
	app   string
	whole bool
	// envs names each environment that loses clusters, with them.
	envs map[string][]string
}

// deployments counts the (env, cluster) pairs of l.
func (l loss) deployments() int {
	n := 0
	for _, cs := range l.envs {
		n += len(cs)
	}
	return n
}

// describe names l for a person: "shop", or "shop (staging in c1, c2)".
func (l loss) describe() string {
	if l.whole {
		return l.app
	}
	var parts []string
	for _, env := range slices.Sorted(maps.Keys(l.envs)) {
		parts = append(parts, env+" in "+strings.Join(l.envs[env], ", "))
	}
	return l.app + " (" + strings.Join(parts, "; ") + ")"
}

// pruneHold is a prune the guard holds. It is immutable once made.
type pruneHold struct {
	// revision is the snapshot the prune comes from, what a person
	// confirms.
	revision string
	// apps are the apps that would lose something, items describe it.
	apps  []string
	items []string
	// gone of total deployments of the source would be removed.
	gone, total int
	// orphans says the prune comes from a restart's orphan collection,
	// not from a load.
	orphans bool
	// pathGone names the source's path when the snapshot lost it.
	pathGone string
}

// message says what is held and how to let it go.
func (h *pruneHold) message(src string) string {
	what := "a snapshot"
	switch {
	case h.orphans:
		what = "the orphan collection after a restart"
	case h.pathGone != "":
		what = fmt.Sprintf("a snapshot without the source's path %s", h.pathGone)
	}
	return fmt.Sprintf("prune held by the mass-deletion guard: %s of source %s at %s would remove %d of its %d deployments (%s); confirm with `carina prune confirm %s --revision %s`, or set allowEmpty on the source",
		what, src, h.revision, h.gone, h.total, strings.Join(h.items, ", "), src, commitOf(h.revision))
}

// appMessage is the error of an app the hold keeps.
func (h *pruneHold) appMessage(src string) string {
	return fmt.Sprintf("prune held by the mass-deletion guard: source %s at %s would remove %d of its %d deployments, this app's among them; see carina status, and confirm with `carina prune confirm %s --revision %s`",
		src, h.revision, h.gone, h.total, src, commitOf(h.revision))
}

// newHold makes the hold of losses, or returns nil when the source lets
// them through: nothing is lost, the source does not prune or allows
// empty, a person confirmed this revision, or the share is within the
// source's maxPruneFraction.
func newHold(src config.Source, revision, confirmed string, lost []loss, total int, orphans bool) *pruneHold {
	gone := 0
	for _, l := range lost {
		gone += l.deployments()
	}
	if gone == 0 || !src.Prunes() || src.AllowEmpty || (confirmed != "" && confirmed == revision) {
		return nil
	}
	if gone < total && float64(gone) <= src.PruneFraction()*float64(total) {
		return nil
	}
	h := &pruneHold{revision: revision, gone: gone, total: max(total, gone), orphans: orphans}
	for _, l := range lost {
		h.apps = append(h.apps, l.app)
		h.items = append(h.items, l.describe())
	}
	slices.Sort(h.apps)
	h.apps = slices.Compact(h.apps)
	slices.Sort(h.items)
	return h
}

// deploymentsOf counts the (env, cluster) pairs of d.
func deploymentsOf(d *desiredApp) int {
	n := 0
	for _, e := range d.Envs {
		n += len(e.Clusters)
	}
	return n
}

// commitOf is the commit id of a revision ("main@sha1:abc" gives "abc"),
// or the revision itself.
func commitOf(rev string) string {
	if _, after, ok := strings.Cut(rev, ":"); ok {
		return after
	}
	return rev
}

// revisionMatches reports whether what a person typed names rev: the
// whole revision, its commit id, or a prefix of it of 7 characters or
// more.
func revisionMatches(rev, typed string) bool {
	if typed == "" {
		return false
	}
	if typed == rev {
		return true
	}
	c := commitOf(rev)
	return typed == c || (len(typed) >= 7 && strings.HasPrefix(c, typed))
}

// confirmPrune lets the prune the guard holds for source src go, once a
// person names its revision, and makes the source load again to prune.
// It returns the hold it let go.
func (c *catalog) confirmPrune(src, typed string) (*pruneHold, error) {
	c.mu.Lock()
	st := c.srcs[src]
	switch {
	case st == nil || st.capability:
		c.mu.Unlock()
		return nil, fmt.Errorf("application source %q: %w", src, api.ErrNotFound)
	case st.hold == nil:
		c.mu.Unlock()
		return nil, fmt.Errorf("source %s holds no prune: %w", src, api.ErrConflict)
	case !revisionMatches(st.hold.revision, typed):
		h := st.hold
		c.mu.Unlock()
		return nil, fmt.Errorf("source %s holds the prune of revision %s, not %q: check what it removes (carina status) and confirm that revision: %w",
			src, h.revision, typed, api.ErrConflict)
	}
	h := st.hold
	st.confirmed = h.revision
	c.mu.Unlock()
	c.requestReload(st)
	return h, nil
}

// holdOrphans records the hold of an orphan collection of st, unless a
// load's hold is there already.
func (c *catalog) holdOrphans(st *sourceState, h *pruneHold) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.hold == nil || st.hold.orphans {
		st.hold = h
	}
}

// liftOrphans drops an orphan collection's hold of st and returns it,
// nil when there is none.
func (c *catalog) liftOrphans(st *sourceState) *pruneHold {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := st.hold
	if h == nil || !h.orphans {
		return nil
	}
	st.hold = nil
	return h
}

// sources is the status of every app source.
func (c *catalog) sources() []api.SourceStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []api.SourceStatus
	for _, st := range c.srcs {
		if st.capability {
			continue
		}
		s := api.SourceStatus{Name: st.cfg.Name, Revision: st.loadedRev, Apps: len(st.apps), Error: st.fetchErr}
		if h := st.hold; h != nil {
			s.PruneHeld = &api.PruneHold{Revision: h.revision, Apps: h.apps, Items: h.items, Deployments: h.gone, Total: h.total,
				Orphans: h.orphans, Message: h.message(st.cfg.Name)}
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b api.SourceStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}
