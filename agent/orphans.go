package agent

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/apply/inventory"
)

// orphanListTimeout bounds the listing of every cluster's inventories by
// one collection, which runs on a source's poll loop; maxOrphanLists
// bounds how often a source lists again after a listing failed.
const (
	orphanListTimeout = time.Minute
	maxOrphanLists    = 5
)

// orphans finds what the apps of each source left behind while no
// agent ran: the inventories, in every namespace of every cluster (a
// tenant's are in its own), that name the source but whose (app, env)
// no source declares any more. Each is pruned as the identity it was
// applied as (foundIdentity). It runs once per source
// after every app source has loaded, and again at later polls while a
// cluster could not be listed (maxOrphanLists times). Inventories
// without the source key are never touched.
type orphans struct {
	log      *slog.Logger
	catalog  *catalog
	removals *removals
	targets  *targetSet
	// onHold and onLift report a hold of the mass-deletion guard and its
	// end.
	onHold func(context.Context, *sourceState, *pruneHold)
	onLift func(*sourceState, *pruneHold)

	mu    sync.Mutex
	state map[string]*orphanState // by source
}

type orphanState struct {
	done, collecting bool
	lists            int
	// heldAt is the revision whose prune the mass-deletion guard holds;
	// the collection runs again when a person confirms it or at a new
	// revision.
	heldAt string
}

func newOrphans(log *slog.Logger, c *catalog, rms *removals, targets *targetSet) *orphans {
	return &orphans{log: log, catalog: c, removals: rms, targets: targets, state: map[string]*orphanState{}}
}

// collectAll collects for every app source that may and has not yet.
func (o *orphans) collectAll(ctx context.Context) {
	for _, st := range o.catalog.appSources() {
		o.collect(ctx, st)
	}
}

// collect runs the collection of one source, unless it is done or
// running, or the source may not collect yet.
func (o *orphans) collect(ctx context.Context, st *sourceState) {
	o.mu.Lock()
	s := o.state[st.cfg.Name]
	if s == nil {
		s = &orphanState{}
		o.state[st.cfg.Name] = s
	}
	if s.done || s.collecting {
		o.mu.Unlock()
		return
	}
	sc, ok := o.catalog.orphanScope(st)
	if !ok || (s.heldAt != "" && s.heldAt == sc.rev && sc.confirmed != sc.rev) {
		o.mu.Unlock()
		return
	}
	s.collecting, s.lists = true, s.lists+1
	o.mu.Unlock()

	rms, complete := o.find(ctx, sc)
	if h := orphanHold(sc, rms); h != nil {
		o.catalog.holdOrphans(st, h)
		o.onHold(ctx, st, h)
		o.mu.Lock()
		s.collecting, s.heldAt = false, sc.rev
		o.mu.Unlock()
		return
	}
	if s.heldAt != "" {
		if h := o.catalog.liftOrphans(st); h != nil {
			o.onLift(st, h)
		}
	}
	for _, rm := range rms {
		o.log.Info("orphaned inventory found; pruning", "app", rm.app, "env", rm.env, "source", rm.source, "clusters", rm.clusters)
	}
	o.removals.add(sc.src, rms)
	o.mu.Lock()
	s.collecting, s.heldAt, s.done = false, "", complete || s.lists >= maxOrphanLists
	o.mu.Unlock()
}

// orphanHold is the hold of the mass-deletion guard on what a
// collection found, nil when it may be pruned.
func orphanHold(sc orphanScope, rms []*removal) *pruneHold {
	byApp := map[string]*loss{}
	gone := 0
	for _, rm := range rms {
		l := byApp[rm.app]
		if l == nil {
			l = &loss{app: rm.app, whole: rm.whole, envs: map[string][]string{}}
			byApp[rm.app] = l
		}
		l.envs[rm.env] = append(l.envs[rm.env], rm.clusters...)
		gone += len(rm.clusters)
	}
	lost := make([]loss, 0, len(byApp))
	for _, l := range byApp {
		lost = append(lost, *l)
	}
	return newHold(sc.cfg, sc.rev, sc.confirmed, lost, sc.deployments+gone, true)
}

// find lists the inventories of every cluster and returns the removals
// of those sc's source left behind, and whether every cluster could be
// listed.
func (o *orphans) find(ctx context.Context, sc orphanScope) ([]*removal, bool) {
	ctx, cancel := context.WithTimeout(ctx, orphanListTimeout)
	defer cancel()
	byKey := map[envKey]*removal{}
	complete := true
	for _, c := range slices.Sorted(maps.Keys(o.targets.clusters)) {
		invs, err := o.targets.clusters[c].ListAllInventories(ctx)
		if err != nil {
			complete = complete && onlyCorrupt(err)
			o.log.Warn("inventories cannot be listed", "source", sc.src, "cluster", c, "error", sanitize(err, time.Time{}).Message)
		}
		for _, inv := range invs {
			k := envKey{inv.App, inv.Env}
			if _, preview := appfile.PreviewNumber(inv.Env); preview {
				continue // the previews' own (previews.sweep); the guard does not count them
			}
			r := inv.Extra[extraRepo]
			if inv.Extra[extraSource] != sc.src || (r != "" && r != sc.repo) || sc.live[k] || sc.elsewhere[inv.App] {
				continue
			}
			as, ok := foundIdentity(inv, o.targets.agentNamespace)
			if !ok {
				o.log.Warn("inventory outside the agent's namespace names no service account; left alone",
					"app", inv.App, "env", inv.Env, "cluster", c, "namespace", inv.Namespace)
				continue
			}
			if byKey[k] == nil {
				byKey[k] = &removal{app: inv.App, env: inv.Env, source: sc.src, revision: sc.rev, whole: !sc.apps[inv.App], orphan: true, as: as}
			}
			if !slices.Contains(byKey[k].clusters, c) {
				byKey[k].clusters = append(byKey[k].clusters, c)
			}
		}
	}
	return slices.Collect(maps.Values(byKey)), complete
}

// onlyCorrupt reports whether a listing's error names only inventories
// that do not decode (inventory.ErrCorrupt): the listing is complete,
// since what such an inventory lists cannot be pruned before a person
// rebuilds it, and listing again would not change that.
func onlyCorrupt(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !onlyCorrupt(e) {
				return false
			}
		}
		return true
	}
	return errors.Is(err, inventory.ErrCorrupt)
}
