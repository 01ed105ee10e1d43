package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/agent/metrics"
	"github.com/carina-gitops/carina/render"
	"github.com/carina-gitops/carina/source"
	"github.com/carina-gitops/carina/source/oci"
	"github.com/carina-gitops/carina/source/webhook"
)

// Options are the agent's collaborators. Zero fields get defaults built
// from the Config in New.
type Options struct {
	// Config is the validated configuration. Required.
	Config *config.Config
	// Logger receives the agent's logs; nil discards them.
	Logger *slog.Logger
	// Recorder records metrics; nil makes one.
	Recorder *metrics.Recorder
	// Renderer renders; nil means render.Render in process.
	Renderer Renderer
	// Targets are the clusters by name; nil builds them from Config.
	Targets map[string]Target
	// Events posts Kubernetes Events; nil posts none.
	Events EventSink
	// Fetcher fetches sources; nil builds one in Config.CacheDir.
	Fetcher *source.Fetcher
	// OCIFetcher fetches oci:// sources; nil builds one in
	// Config.CacheDir/oci when a source is an OCI artifact.
	OCIFetcher *oci.Fetcher
	// ReadSecret reads the Secrets of the leader-election cluster that
	// sources name for their SOPS keys and chart repository credentials
	// (Clusters.ReadSecret); nil makes such a source's renders fail.
	ReadSecret config.SecretReader
	// HTTPClient posts notify steps; nil means a 10 s client that
	// connects only where Config.Egress allows.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// HookOptions, when set, adjusts each webhook receiver's options
	// after the configuration's: a seam for fault injection in tests.
	HookOptions func(*webhook.Options)
}

// Agent is the composition root: it builds the parts, each of which owns
// its state, and runs them. It owns no maps of its own.
//
//   - catalog: desired state (sources, loads, registries, digests);
//   - feed: pollers, and what each load changes;
//   - workers: the work queue;
//   - reconciler: one (app, env) run, observe → state → act;
//   - driver: the workflow of each app;
//   - removals: apps, environments and clusters that left Git;
//   - orphans: what was removed while no agent ran;
//   - drift: watchers, findings, contests;
//   - restorer: applied state read back after a restart;
//   - versions: each cluster's Kubernetes version, for renders;
//   - store: the status the API reads.
type Agent struct {
	cfg *config.Config
	log *slog.Logger
	rec *metrics.Recorder

	catalog    *catalog
	feed       *feed
	work       *workers
	reconciler *reconciler
	driver     *driver
	removals   *removals
	orphans    *orphans
	drift      *driftBook
	restorer   *restorer
	versions   *clusterVersions
	store      *statusStore
	events     *eventRecorder
	targets    *targetSet
	hookQueue  *webhook.Queue
	previews   *previews

	hookOptions func(*webhook.Options)

	reachable atomic.Bool
	leading   atomic.Bool
}

// New builds an agent from opts without touching the network.
func New(opts Options) (*Agent, error) {
	cfg := opts.Config
	if cfg == nil {
		return nil, fmt.Errorf("agent needs a configuration")
	}
	opts.Logger = orDefault(opts.Logger, slog.New(slog.DiscardHandler))
	opts.Recorder = orDefault(opts.Recorder, metrics.NewRecorder())
	opts.Renderer = containedRenderer{orDefault[Renderer](opts.Renderer, RenderFunc(render.Render))}
	egressPolicy, err := cfg.Egress.Policy()
	if err != nil {
		return nil, fmt.Errorf("egress: %w", err)
	}
	opts.HTTPClient = orDefault(opts.HTTPClient, &http.Client{Timeout: 10 * time.Second, Transport: egressPolicy.Transport(nil)})
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Fetcher == nil {
		fo := source.DefaultOptions()
		fo.CacheDir, fo.AllowFile, fo.Egress = cfg.CacheDir, cfg.AllowFileURLs, egressPolicy
		fo.Limits = source.Limits{MaxBytes: int64(cfg.Limits.Fetch.MaxBytes), MaxFiles: cfg.Limits.Fetch.MaxFiles, Time: cfg.Limits.Fetch.Timeout}
		f, err := source.NewFetcher(fo)
		if err != nil {
			return nil, err
		}
		opts.Fetcher = f
	}
	if opts.OCIFetcher == nil {
		f, err := newOCIFetcher(cfg, egressPolicy)
		if err != nil {
			return nil, err
		}
		opts.OCIFetcher = f
	}
	st, err := newCommitStatuses(cfg, opts.Logger, egressPolicy)
	if err != nil {
		return nil, err
	}
	a := compose(cfg, opts)
	a.reconciler.renderOpts.Engines.Helm.Egress = egressPolicy
	a.restorer.opts.Engines.Helm.Egress = egressPolicy
	a.reconciler.statuses = st
	a.driver.promoter = newPromoter(a.catalog, a.reconciler, st, egressPolicy)
	a.hookOptions = opts.HookOptions
	a.previews.statuses = st
	return a, nil
}

// orDefault returns v, or def when v is nil.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// compose builds the parts and wires them to each other.
func compose(cfg *config.Config, opts Options) *Agent {
	log, rec, now := opts.Logger, opts.Recorder, opts.Now
	a := &Agent{cfg: cfg, log: log, rec: rec, targets: newTargetSet(opts.Targets),
		store: newStatusStore(cfg.Reconcile.History), work: newWorkers(cfg.Reconcile, log, rec),
		events: newEventRecorder(opts.Events, log), drift: newDriftBook(cfg.Drift), restorer: newRestorer(),
		versions: newClusterVersions(log, now)}
	renderOpts := render.DefaultOptions()
	renderOpts.Timeout = cfg.Limits.Render.Timeout
	renderOpts.MaxObjects = cfg.Limits.Render.MaxObjects
	renderOpts.MaxOutputBytes = int64(cfg.Limits.Render.MaxOutputBytes)

	a.events.leading = a.leading.Load
	a.drift.log, a.drift.rec, a.drift.now, a.drift.store, a.drift.events, a.drift.work = log, rec, now, a.store, a.events, a.work
	a.removals = &removals{log: log, rec: rec, now: now, store: a.store, drift: a.drift, events: a.events, targets: a.targets,
		work: a.work, bySource: map[string]map[envKey]*removal{}}
	a.catalog = newCatalog(cfg, opts.Fetcher, a.removals.cancel)
	a.catalog.oci = opts.OCIFetcher
	a.removals.catalog = a.catalog
	a.driver = &driver{store: a.store, targets: a.targets, work: a.work, httpClient: opts.HTTPClient, now: now,
		stepTimeout: cfg.Reconcile.StepTimeout, holdDrift: a.drift.hold, flows: map[string]*flow{}}
	a.removals.appGone = a.driver.forget
	secrets, plain := newSourceSecrets(cfg, opts.ReadSecret, now), newPlaintexts()
	a.drift.redact = plain.err
	a.reconciler = &reconciler{log: log, rec: rec, now: now, store: a.store, drift: a.drift, released: a.driver.released, restorer: a.restorer,
		events: a.events, work: a.work, targets: a.targets, renderer: opts.Renderer, renderOpts: renderOpts, secrets: secrets, plain: plain,
		versions: a.versions, forced: map[envKey]bool{}}
	a.removals.force = a.reconciler.force
	r := a.restorer
	r.log, r.now, r.catalog, r.store, r.drift, r.renderer, r.opts, r.targets = log, now, a.catalog, a.store, a.drift, opts.Renderer, renderOpts, a.targets
	r.secrets, r.plain, r.versions = secrets, plain, a.versions
	a.orphans = newOrphans(log, a.catalog, a.removals, a.targets)
	a.feed = &feed{cfg: cfg, log: log, rec: rec, now: now, fetcher: opts.Fetcher, oci: opts.OCIFetcher, catalog: a.catalog, store: a.store,
		removals: a.removals, drift: a.drift, driver: a.driver, orphans: a.orphans, work: a.work, events: a.events}
	a.orphans.onHold, a.orphans.onLift = a.feed.reportHold, a.feed.liftHold
	a.previews = newPreviews(log, rec, now)
	pv := a.previews
	pv.catalog, pv.store, pv.rms, pv.work, pv.targets = a.catalog, a.store, a.removals, a.work, a.targets
	pv.comments = newPRComments(log, &prDiffs{catalog: a.catalog, targets: a.targets, renderer: opts.Renderer, opts: renderOpts,
		secrets: secrets, versions: a.versions})
	a.removals.envGone = func(ctx context.Context, app, env string) {
		a.driver.resetEnv(app, env)
		pv.pruned(ctx, app, env)
	}
	a.work.handle = dispatch(a.catalog, a.reconciler, a.driver, a.removals, pv)
	return a
}

// dispatch runs a work item with the part that owns it, at the desired
// state the catalog holds now.
func dispatch(c *catalog, r *reconciler, d *driver, rms *removals, pv *previews) handler {
	return func(ctx context.Context, it item) (time.Duration, error) {
		if it.Remove {
			return rms.run(ctx, it.App, it.Env)
		}
		if v := pv.view(it.App, it.Env); v != nil {
			return r.reconcile(ctx, v, it.Env)
		}
		app := c.app(it.App)
		switch {
		case app == nil:
			return 0, nil
		case it.Env == "":
			return d.advance(ctx, app)
		}
		return r.reconcile(ctx, app.forEnv(it.Env), it.Env)
	}
}

// Recorder returns the agent's metrics recorder.
func (a *Agent) Recorder() *metrics.Recorder { return a.rec }

// Renders counts renders since start (for tests and benchmarks).
func (a *Agent) Renders() int64 { return a.reconciler.renders.Load() }

// Status returns the agent's status, for the API.
func (a *Agent) Status() api.Status {
	return statusView{store: a.store, flows: a.driver.state, drifts: a.drift.statuses, sources: a.catalog.sources}
}
