package agent

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/agent/metrics"
	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/capabilities"
	"github.com/carina-gitops/carina/source"
)

// sourceState is one configured repository.
type sourceState struct {
	cfg        config.Source
	capability bool
	poller     *source.Poller
	wake       chan struct{}
	snap       *source.Snapshot
	apps       []string
}

// startSources builds a poller per source and runs each until ctx ends.
func (a *Agent) startSources(ctx context.Context, wg *sync.WaitGroup) error {
	add := func(s config.Source, capability bool) error {
		ref := s.SourceRef()
		if ref.Interval == 0 {
			ref.Interval = a.cfg.Reconcile.PollInterval
		}
		p, err := source.NewPoller(a.fetcher, ref, source.PollerOptions{Interval: ref.Interval, Jitter: 0.1})
		if err != nil {
			return fmt.Errorf("source %s: %w", s.Name, err)
		}
		st := &sourceState{cfg: s, capability: capability, poller: p, wake: make(chan struct{}, 1)}
		a.mu.Lock()
		a.srcs[s.Name] = st
		a.mu.Unlock()
		a.rec.InitSource(s.Name)
		wg.Go(func() { a.pollLoop(ctx, st) })
		return nil
	}
	for _, s := range a.cfg.Sources.Capabilities {
		if err := add(s, true); err != nil {
			return err
		}
	}
	for _, s := range a.cfg.Sources.Apps {
		if err := add(s, false); err != nil {
			return err
		}
	}
	return nil
}

// WakeRepos wakes the sources of the repositories (webhooks call it) and
// reports how many it woke.
func (a *Agent) WakeRepos(urls ...string) int {
	keys := map[string]bool{}
	for _, u := range urls {
		if k := source.RepoKey(u); k != "" {
			keys[k] = true
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, st := range a.srcs {
		if keys[st.poller.RepoKey()] {
			select {
			case st.wake <- struct{}{}:
			default:
			}
			n++
		}
	}
	return n
}

// pollLoop polls one source on its interval, at once when woken, and
// with the poller's backoff after failures.
func (a *Agent) pollLoop(ctx context.Context, st *sourceState) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-st.wake:
		}
		t0 := time.Now()
		u := st.poller.Poll(ctx)
		if ctx.Err() != nil {
			return
		}
		result := metrics.ResultSuccess
		if u.Kind == source.UpdateFailed {
			result = metrics.ResultError
		}
		a.rec.Fetch(st.cfg.Name, result, time.Since(t0))
		a.onUpdate(ctx, st, u)
		timer.Reset(u.RetryIn)
	}
}

// onUpdate turns a poll into desired state.
func (a *Agent) onUpdate(ctx context.Context, st *sourceState, u source.Update) {
	log := a.log.With("source", st.cfg.Name)
	switch u.Kind {
	case source.UpdateUnchanged:
		return
	case source.UpdateFailed:
		es := sanitize(u.Err, a.now())
		log.Warn("source fetch failed", "error", es.Message, "failures", u.Failures, "retry_in", u.RetryIn)
		a.sourceFailed(st, es)
		return
	case source.UpdateRecovered:
		log.Info("source recovered", "revision", u.Snapshot.Revision())
		a.sourceFailed(st, nil)
		return
	}
	log.Info("source revision", "revision", u.Snapshot.Revision(), "kind", string(u.Kind))
	a.rec.SourceRevision(st.cfg.Name, u.Snapshot.Revision())
	a.mu.Lock()
	st.snap = u.Snapshot
	var appSrcs []*sourceState
	for _, s := range a.srcs {
		if !s.capability && s.snap != nil && (s == st || st.capability) {
			appSrcs = append(appSrcs, s)
		}
	}
	a.mu.Unlock()
	a.sourceFailed(st, nil)
	for _, s := range appSrcs {
		a.loadSource(ctx, s)
	}
	a.markFirstSnapshot()
}

// markFirstSnapshot records readiness once every app source has a
// snapshot.
func (a *Agent) markFirstSnapshot() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.srcs {
		if s.snap == nil {
			return
		}
	}
	a.firstSnap.Store(true)
}

// sourceFailed sets (or clears, with nil) the error of every app of st.
// The last good desired state stays; status says Stalled.
func (a *Agent) sourceFailed(st *sourceState, es *api.ErrorStatus) {
	a.mu.Lock()
	apps := slices.Clone(st.apps)
	a.mu.Unlock()
	s := a.store
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range apps {
		ar := s.app(name)
		ar.err = es
		for _, er := range ar.envs {
			switch {
			case es != nil:
				er.sync = api.SyncStalled
			case er.sync == api.SyncStalled && er.lastError == nil:
				er.sync = api.SyncSynced
			}
		}
	}
}

// registry builds the definitions an app source's apps see: its own,
// the capability repositories', and the built-in library.
func (a *Agent) registry(ctx context.Context, st *sourceState) (*capabilities.Registry, error) {
	var mods []capabilities.Module
	if st.cfg.Definitions != "" {
		mods = append(mods, capabilities.Module{Source: capabilities.SourceApp, FS: st.snap.FS(),
			Dir: path.Clean(st.cfg.Definitions), Revision: st.snap.Commit, Optional: true})
	}
	a.mu.Lock()
	for _, c := range a.cfg.Sources.Capabilities {
		cs := a.srcs[c.Name]
		if cs == nil || cs.snap == nil {
			continue
		}
		dir := "."
		if cs.snap.Path != "" {
			dir = path.Clean(cs.snap.Path)
		}
		mods = append(mods, capabilities.Module{Source: capabilities.SourceCapability, Name: c.Name, FS: cs.snap.FS(), Dir: dir, Revision: cs.snap.Commit})
	}
	a.mu.Unlock()
	return capabilities.NewRegistry(ctx, capabilities.Options{Cache: a.capCache, Builtin: true}, mods...)
}

// loadSource reads the apps of an app source's snapshot and replaces the
// source's desired state; on error the last good state stays.
func (a *Agent) loadSource(ctx context.Context, st *sourceState) {
	reg, err := a.registry(ctx, st)
	var apps []*desiredApp
	if err == nil {
		apps, err = loadApps(ctx, st.cfg.Name, st.snap, reg, a.cfg.Limits.Fetch.MaxFiles, a.cfg.Clusters[0].Name)
	}
	if err != nil {
		es := sanitize(err, a.now())
		a.log.Warn("applications cannot be loaded", "source", st.cfg.Name, "revision", st.snap.Revision(), "error", es.Message)
		a.loadFailed(st, err, es)
		return
	}
	a.setDesired(st, apps)
}

// loadFailed sets the error on the apps whose files it names, or on every
// app of the source when it names none of them. Every app keeps its last
// good desired state and goes on reconciling.
func (a *Agent) loadFailed(st *sourceState, err error, es *api.ErrorStatus) {
	var list appfile.ErrorList
	if !asList(err, &list) {
		a.sourceFailed(st, es)
		return
	}
	a.mu.Lock()
	names := slices.Clone(st.apps)
	a.mu.Unlock()
	s := a.store
	s.mu.Lock()
	defer s.mu.Unlock()
	hit := false
	for _, name := range names {
		ar := s.app(name)
		file, _, _ := strings.Cut(ar.file, ":")
		var mine appfile.ErrorList
		for _, e := range list {
			if file != "" && e.Pos.File == file {
				mine = append(mine, e)
			}
		}
		if len(mine) == 0 {
			continue
		}
		hit = true
		ar.err = sanitize(mine, es.Time)
		for _, er := range ar.envs {
			er.sync = api.SyncStalled
		}
	}
	if !hit {
		for _, name := range names {
			ar := s.app(name)
			ar.err = es
			for _, er := range ar.envs {
				er.sync = api.SyncStalled
			}
		}
	}
}
