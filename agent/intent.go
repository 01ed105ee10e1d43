package agent

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/policy"
)

// commitID finds the commit id in a recorded revision ("<sha>" or
// "<ref>@sha1:<sha>").
var commitID = regexp.MustCompile(`[0-9a-f]{40}$`)

// restoreIntent reads back what an env that waits for the workflow
// applied last, after a restart, so that drift of it is watched and
// undone as before the restart. It renders the application at the
// commit the inventory recorded and keeps the result only when its
// inputs digest is the recorded one (the same files, definitions and
// environment): then it is exactly what was applied. Otherwise the
// env is left unwatched until the workflow deploys it, and the log says
// why. It is tried once per applied revision.
func (r *envRun) restoreIntent(ctx context.Context, d *desiredApp) {
	s := r.a.store
	s.mu.Lock()
	er := s.app(r.app).env(r.env)
	rev, inputs := er.revision, er.inputs
	skip := !er.applied || er.set != nil || inputs == "" || er.intentTried == rev
	er.intentTried = rev
	s.mu.Unlock()
	if skip {
		return
	}
	set, err := r.appliedSet(ctx, d, rev, inputs)
	if err != nil {
		r.log.Warn("drift of the environment is not watched until the workflow deploys it", "revision", rev, "error", sanitize(err, r.a.now()).Message)
		return
	}
	s.mu.Lock()
	er = s.app(r.app).env(r.env)
	ok := er.set == nil && er.revision == rev
	if ok {
		er.set = set
	}
	clusters := er.clusters
	s.mu.Unlock()
	if !ok {
		return
	}
	for _, c := range clusters {
		r.a.driftTrack(c, r.app, r.env, set)
	}
	r.log.Info("applied state read back; drift is watched", "revision", rev)
}

// appliedSet renders the env at the applied commit, when that reproduces
// the recorded inputs.
func (r *envRun) appliedSet(ctx context.Context, d *desiredApp, rev, inputs string) (*apply.Set, error) {
	commit := commitID.FindString(rev)
	if commit == "" {
		return nil, fmt.Errorf("recorded revision %q names no commit", rev)
	}
	r.a.mu.Lock()
	src := r.a.srcs[d.Source]
	r.a.mu.Unlock()
	if src == nil {
		return nil, fmt.Errorf("source %s is not configured", d.Source)
	}
	l, err := r.a.loadAt(ctx, src, commit)
	if err != nil {
		return nil, err
	}
	for _, old := range l.apps {
		if old.Name != d.Name {
			continue
		}
		e, ok := old.env(r.env)
		switch {
		case !ok:
			return nil, fmt.Errorf("application %s has no environment %s at %s", d.Name, r.env, commit)
		case old.Inputs[r.env] != inputs:
			return nil, fmt.Errorf("the applied state cannot be reproduced at %s: its definitions or files changed since", commit)
		}
		res, err := r.render(ctx, old, e)
		if err != nil {
			return nil, err
		}
		return policy.Set(res, old.App, e, l.snap.Commit), nil
	}
	return nil, fmt.Errorf("application %s is not in %s at %s", d.Name, src.cfg.Name, commit)
}

// intentLoad is the last snapshot loadAt loaded: after a restart the
// gated envs of a monorepo were mostly applied at the same commit, and
// each would otherwise load the whole repository again. It is dropped a
// minute after it was loaded, so that it does not stay in memory.
const intentLoadTTL = time.Minute

type intentLoad struct {
	mu  sync.Mutex
	key string
	l   *loaded
}

// loadAt loads the apps of src at commit (fetched by commit id; a tree
// already on disk needs no network), once for consecutive calls.
func (a *Agent) loadAt(ctx context.Context, src *sourceState, commit string) (*loaded, error) {
	key := src.cfg.Name + "@" + commit
	a.intentLoad.mu.Lock()
	defer a.intentLoad.mu.Unlock()
	if a.intentLoad.key == key {
		return a.intentLoad.l, nil
	}
	ref := src.cfg.SourceRef()
	ref.Branch, ref.Tag, ref.SemVer, ref.TagPrefix, ref.Name, ref.Commit = "", "", "", "", "", commit
	snap, err := a.fetcher.Fetch(ctx, ref)
	if err != nil {
		return nil, err
	}
	reg, err := a.registry(ctx, src, snap)
	if err != nil {
		return nil, err
	}
	l, err := loadApps(ctx, src.cfg.Name, snap, reg, a.cfg.Limits.Fetch.MaxFiles, a.cfg.Clusters[0].Name)
	if err != nil {
		return nil, err
	}
	a.intentLoad.key, a.intentLoad.l = key, l
	time.AfterFunc(intentLoadTTL, func() {
		a.intentLoad.mu.Lock()
		defer a.intentLoad.mu.Unlock()
		if a.intentLoad.key == key {
			a.intentLoad.key, a.intentLoad.l = "", nil
		}
	})
	return l, nil
}
