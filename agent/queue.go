package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"

	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/agent/metrics"
	"github.com/carina-gitops/carina/internal/panics"
)

// item is one work item: an (app, env), or (app, "") for the app's
// workflow.
type item struct {
	App string
	Env string
	// Remove: the (app, env) left its source; prune it (removal_run.go).
	Remove bool
}

// handler runs one work item and says when to look again; an error is
// retried with backoff unless it is terminal (errTerminal).
type handler func(ctx context.Context, it item) (time.Duration, error)

// workers is the work queue and the goroutines that drain it. Failing
// items back off exponentially per item, so they never starve others; a
// terminal error is not retried.
type workers struct {
	cfg    config.Reconcile
	log    *slog.Logger
	rec    *metrics.Recorder
	q      workqueue.TypedRateLimitingInterface[item]
	handle handler
}

func newWorkers(cfg config.Reconcile, log *slog.Logger, rec *metrics.Recorder) *workers {
	limiter := workqueue.NewTypedItemExponentialFailureRateLimiter[item](cfg.MinBackoff, cfg.MaxBackoff)
	q := workqueue.NewTypedRateLimitingQueueWithConfig(limiter, workqueue.TypedRateLimitingQueueConfig[item]{Name: "carina"})
	return &workers{cfg: cfg, log: log, rec: rec, q: q}
}

// addWorkflow queues the app's workflow item.
func (w *workers) addWorkflow(app string) { w.q.Add(item{App: app}) }

// addEnv queues an (app, env).
func (w *workers) addEnv(app, env string) { w.q.Add(item{App: app, Env: env}) }

// addEnvAfter queues an (app, env) after d.
func (w *workers) addEnvAfter(app, env string, d time.Duration) {
	w.q.AddAfter(item{App: app, Env: env}, d)
}

// addRemoval queues the removal of an (app, env).
func (w *workers) addRemoval(app, env string) { w.q.Add(item{App: app, Env: env, Remove: true}) }

// add queues items.
func (w *workers) add(items []item) {
	for _, it := range items {
		w.q.Add(it)
	}
}

// run processes the queue with the configured number of workers until
// ctx ends, then lets in-flight items finish (each bounded by its item
// timeout and ctx).
func (w *workers) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range w.cfg.Workers {
		wg.Go(func() {
			for w.next(ctx) {
			}
		})
	}
	<-ctx.Done()
	w.q.ShutDown()
	wg.Wait()
}

// next handles one item. One slow item holds one worker for at most
// ItemTimeout.
func (w *workers) next(ctx context.Context) bool {
	it, shutdown := w.q.Get()
	if shutdown {
		return false
	}
	defer w.q.Done(it)
	if ctx.Err() != nil {
		return false
	}
	ictx, cancel := context.WithTimeout(context.WithValue(ctx, reconcileIDKey{}, newReconcileID()), w.cfg.ItemTimeout)
	defer cancel()
	var (
		after time.Duration
		err   error
	)
	if p := panics.Catch(metrics.PanicWork, func() { after, err = w.handle(ictx, it) }); p != nil {
		// A panic fails this item only; it is retried with backoff.
		err = p
		notePanic(w.log.With("app", it.App, "env", it.Env), w.rec, metrics.PanicWork, p)
	}
	switch {
	case err != nil && !errors.Is(err, errTerminal):
		w.q.AddRateLimited(it)
	default:
		w.q.Forget(it)
		if after > 0 {
			w.q.AddAfter(it, after)
		}
	}
	return true
}

// resync queues every item of items() every Resync. Items whose inputs
// did not change take the fast path, which costs no API request.
func (w *workers) resync(ctx context.Context, items func() []item) {
	t := time.NewTicker(w.cfg.Resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.add(items())
		}
	}
}

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
