package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/util/workqueue"

	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/agent/metrics"
	"github.com/carina-gitops/carina/capabilities"
	"github.com/carina-gitops/carina/drift"
	"github.com/carina-gitops/carina/render"
	"github.com/carina-gitops/carina/source"
	"github.com/carina-gitops/carina/source/webhook"
)

// item is one work item: an (app, env), or (app, "") for the app's
// workflow.
type item struct {
	App string
	Env string
	// Remove: the (app, env) left its source; prune it (remove.go).
	Remove bool
}

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
	// HTTPClient posts notify steps; nil means a 10 s client.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Agent is the reconcile loop. Build it with New and start it with Run.
type Agent struct {
	cfg        *config.Config
	log        *slog.Logger
	rec        *metrics.Recorder
	renderer   Renderer
	renderOpts render.Options
	targets    map[string]Target
	events     *eventRecorder
	fetcher    *source.Fetcher
	pollers    source.Pollers
	httpClient *http.Client
	now        func() time.Time
	capCache   *capabilities.Cache

	queue workqueue.TypedRateLimitingInterface[item]
	store *store

	mu      sync.Mutex
	desired map[string]*desiredApp // by app name
	srcs    map[string]*sourceState

	hookQueue *webhook.Queue

	// watchers find drift per cluster (Run builds them); contests
	// remember the corrections of each object.
	watchers map[string]*drift.Watcher
	contests *drift.Contests
	// intentLoad caches the last load of an applied commit (intent.go).
	intentLoad intentLoad

	renders   atomic.Int64
	firstSnap atomic.Bool
	reachable atomic.Bool
	leading   atomic.Bool
}

// New builds an agent from opts without touching the network.
func New(opts Options) (*Agent, error) {
	cfg := opts.Config
	if cfg == nil {
		return nil, fmt.Errorf("agent needs a configuration")
	}
	a := &Agent{
		cfg: cfg, log: opts.Logger, rec: opts.Recorder, renderer: opts.Renderer, targets: opts.Targets,
		fetcher: opts.Fetcher, httpClient: opts.HTTPClient, now: opts.Now,
		store: newStore(cfg.Reconcile.History), desired: map[string]*desiredApp{}, srcs: map[string]*sourceState{},
		capCache: capabilities.NewCache(capabilities.DefaultCacheOptions()),
		contests: drift.NewContests(contestOptions(cfg.Drift)),
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.rec == nil {
		a.rec = metrics.NewRecorder()
	}
	if a.renderer == nil {
		a.renderer = RenderFunc(render.Render)
	}
	if a.httpClient == nil {
		a.httpClient = &http.Client{Timeout: 10 * time.Second}
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.events = newEventRecorder(opts.Events, a.log)
	a.renderOpts = render.DefaultOptions()
	a.renderOpts.Timeout = cfg.Limits.Render.Timeout
	a.renderOpts.MaxObjects = cfg.Limits.Render.MaxObjects
	a.renderOpts.MaxOutputBytes = int64(cfg.Limits.Render.MaxOutputBytes)
	if a.fetcher == nil {
		fo := source.DefaultOptions()
		fo.CacheDir, fo.AllowFile = cfg.CacheDir, cfg.AllowFileURLs
		fo.Limits = source.Limits{MaxBytes: int64(cfg.Limits.Fetch.MaxBytes), MaxFiles: cfg.Limits.Fetch.MaxFiles, Time: cfg.Limits.Fetch.Timeout}
		f, err := source.NewFetcher(fo)
		if err != nil {
			return nil, err
		}
		a.fetcher = f
	}
	limiter := workqueue.NewTypedItemExponentialFailureRateLimiter[item](cfg.Reconcile.MinBackoff, cfg.Reconcile.MaxBackoff)
	a.queue = workqueue.NewTypedRateLimitingQueueWithConfig(limiter, workqueue.TypedRateLimitingQueueConfig[item]{Name: "carina"})
	return a, nil
}

// Recorder returns the agent's metrics recorder.
func (a *Agent) Recorder() *metrics.Recorder { return a.rec }

// Renders counts renders since start (for tests and benchmarks).
func (a *Agent) Renders() int64 { return a.renders.Load() }

// Pollers returns the router that webhooks wake.
func (a *Agent) Pollers() *source.Pollers { return &a.pollers }

func (a *Agent) target(cluster string) (Target, error) {
	t, ok := a.targets[cluster]
	if !ok {
		return nil, fmt.Errorf("cluster %q is not configured", cluster)
	}
	return t, nil
}

func (a *Agent) desiredApp(name string) *desiredApp {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.desired[name]
}

// enqueueWorkflow queues the app's workflow item.
func (a *Agent) enqueueWorkflow(app string) { a.queue.Add(item{App: app}) }

// enqueueEnv queues an (app, env).
func (a *Agent) enqueueEnv(app, env string) { a.queue.Add(item{App: app, Env: env}) }

type reconcileIDKey struct{}

// reconcileID returns the work item's ID from ctx.
func reconcileID(ctx context.Context) string {
	id, _ := ctx.Value(reconcileIDKey{}).(string)
	return id
}

func newReconcileID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// runWorkers processes the queue with the configured number of workers
// until ctx ends, then lets in-flight items finish (each bounded by its
// item timeout and ctx).
func (a *Agent) runWorkers(ctx context.Context) {
	var wg sync.WaitGroup
	for range a.cfg.Reconcile.Workers {
		wg.Go(func() {
			for a.processNext(ctx) {
			}
		})
	}
	<-ctx.Done()
	a.queue.ShutDown()
	wg.Wait()
}

// processNext handles one item. One slow item holds one worker for at
// most ItemTimeout; failing items back off exponentially per item, so
// they never starve the others.
func (a *Agent) processNext(ctx context.Context) bool {
	it, shutdown := a.queue.Get()
	if shutdown {
		return false
	}
	defer a.queue.Done(it)
	if ctx.Err() != nil {
		return false
	}
	ictx, cancel := context.WithTimeout(context.WithValue(ctx, reconcileIDKey{}, newReconcileID()), a.cfg.Reconcile.ItemTimeout)
	defer cancel()
	var (
		after time.Duration
		err   error
	)
	switch {
	case it.Remove:
		after, err = a.removeEnv(ictx, it.App, it.Env)
	case it.Env == "":
		after, err = a.advanceWorkflow(ictx, it.App)
	default:
		after, err = a.reconcileEnv(ictx, it.App, it.Env)
	}
	switch {
	case err != nil:
		a.queue.AddRateLimited(it)
	default:
		a.queue.Forget(it)
		if after > 0 {
			a.queue.AddAfter(it, after)
		}
	}
	return true
}

// resyncLoop queues every item every Resync. Items whose inputs did not
// change take the fast path, which costs no API request.
func (a *Agent) resyncLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.Reconcile.Resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.mu.Lock()
			for name, d := range a.desired {
				a.queue.Add(item{App: name})
				for _, e := range d.Envs {
					a.queue.Add(item{App: name, Env: e.Name})
				}
			}
			a.mu.Unlock()
		}
	}
}
