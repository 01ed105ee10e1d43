package agent

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/policy"
	"github.com/carina-gitops/carina/render"
)

// commitID finds the revision id in a recorded revision: a Git commit
// ("<sha>" or "<ref>@sha1:<sha>") or an OCI manifest digest
// ("sha256:<hex>" or "<tag>@sha256:<hex>"), which must not be cut to its
// last 40 hex digits.
var commitID = regexp.MustCompile(`(sha256:[0-9a-f]{64}|\b[0-9a-f]{40})$`)

// restorer reads back, after a restart, what an env that waits for the
// workflow applied last, so that drift of it is watched and undone as
// before the restart. It runs on its own goroutine, never in a worker:
// it loads the source at the commit the inventory recorded (through the
// catalog), renders the app there, and keeps the result only when its
// inputs digest is the recorded one (the same files, definitions and
// environment): then it is exactly what was applied. Otherwise the env
// is left unwatched until the workflow deploys it, and the log says
// why. Each applied revision is tried once.
type restorer struct {
	log      *slog.Logger
	now      func() time.Time
	catalog  *catalog
	store    *statusStore
	drift    *driftBook
	targets  *targetSet
	renderer Renderer
	opts     render.Options
	secrets  *sourceSecrets
	plain    *plaintexts
	versions *clusterVersions

	mu    sync.Mutex
	tried map[envKey]string // applied revision tried
	reqs  chan restoreRequest
}

// restoreRequest is one env to read back.
type restoreRequest struct {
	app     *desiredApp
	env     appfile.Environment
	applied appliedState
}

func newRestorer() *restorer {
	return &restorer{tried: map[envKey]string{}, reqs: make(chan restoreRequest, 256)}
}

// request asks for the applied set of env to be read back, once per
// applied revision; it never blocks.
func (s *restorer) request(d *desiredApp, env appfile.Environment, applied appliedState) {
	if applied.inputs == "" {
		s.release(d.Name, env.Name, env.Clusters)
		return
	}
	k := envKey{d.Name, env.Name}
	s.mu.Lock()
	if s.tried[k] == applied.revision {
		s.mu.Unlock()
		return
	}
	s.tried[k] = applied.revision
	s.mu.Unlock()
	select {
	case s.reqs <- restoreRequest{app: d, env: env, applied: applied}:
	default:
		s.mu.Lock()
		delete(s.tried, k) // asked again at the next reconcile
		s.mu.Unlock()
	}
}

// run reads back requested envs until ctx ends.
func (s *restorer) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case rq := <-s.reqs:
			s.restore(ctx, rq)
		}
	}
}

func (s *restorer) restore(ctx context.Context, rq restoreRequest) {
	log := s.log.With("app", rq.app.Name, "env", rq.env.Name, "revision", rq.applied.revision)
	set, warnings, err := s.appliedSet(ctx, rq)
	if err != nil {
		s.release(rq.app.Name, rq.env.Name, rq.env.Clusters)
		log.Warn("drift of the environment is not watched until the workflow deploys it", "error", sanitize(err, s.now()).Message)
		return
	}
	if !s.store.setAppliedSet(rq.app.Name, rq.env.Name, rq.applied.revision, set.WithoutSecretValues(), warnings) {
		return
	}
	for _, c := range s.store.view(rq.app.Name, rq.env.Name).clusters {
		t, err := s.targets.get(c, identityOf(rq.env))
		if err != nil {
			s.drift.untrack(c, rq.app.Name, rq.env.Name)
			log.Warn("drift of the environment is not watched in a cluster until the workflow deploys it", "cluster", c, "error", sanitize(err, s.now()).Message)
			continue
		}
		s.drift.track(c, set, t)
	}
	log.Info("applied state read back; drift is watched")
}

// appliedSet renders the env at the applied commit, when that
// reproduces the recorded inputs, for the cluster version the inventory
// recorded (the one it was rendered for), and returns the render's
// warnings too.
func (s *restorer) appliedSet(ctx context.Context, rq restoreRequest) (*apply.Set, []string, error) {
	commit := commitID.FindString(rq.applied.revision)
	if commit == "" {
		return nil, nil, fmt.Errorf("recorded revision %q names no commit", rq.applied.revision)
	}
	l, err := s.catalog.loadAt(ctx, rq.app.Source, commit)
	if err != nil {
		return nil, nil, err
	}
	for _, old := range l.apps {
		if old.Name != rq.app.Name {
			continue
		}
		e, ok := old.env(rq.env.Name)
		switch {
		case !ok:
			return nil, nil, fmt.Errorf("application %s has no environment %s at %s", old.Name, rq.env.Name, commit)
		case old.Inputs[rq.env.Name] != rq.applied.inputs:
			return nil, nil, fmt.Errorf("the applied state cannot be reproduced at %s: its definitions or files changed since", commit)
		}
		kv := kubeVersion{git: rq.applied.kubeVersion}
		if kv.git != "" {
			if cur, _ := s.versions.get(ctx, firstOr(e.Clusters, "")); cur.git == kv.git {
				kv = cur
			}
		}
		opts, err := s.secrets.renderOptions(ctx, rq.app.Source, renderOptions(s.opts, old, e, kv))
		if err != nil {
			return nil, nil, err
		}
		res, err := renderDecrypted(ctx, s.renderer, old.App, e, old.Registry, old.Snapshot.FS(), opts)
		if err != nil {
			return nil, nil, fmt.Errorf("render of %s in %s at %s: %w", old.Name, e.Name, commit, err)
		}
		s.plain.set(rq.app.Name, e.Name, res)
		return policy.Set(res, old.App, e, l.snap.Commit), renderWarnings(res, nil), nil
	}
	return nil, nil, fmt.Errorf("application %s is not in %s at %s", rq.app.Name, rq.app.Source, commit)
}

// release lets go of the drift findings held for an env whose applied
// set cannot be read back: it is not watched until it is deployed.
func (s *restorer) release(app, env string, clusters []string) {
	for _, c := range clusters {
		s.drift.untrack(c, app, env)
	}
}
