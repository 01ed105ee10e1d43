package drift

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/workqueue"

	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/internal/panics"
)

// Comparer is what the Watcher needs of the apply engine; *apply.Manager
// implements it.
type Comparer interface {
	Mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error)
	Live(ctx context.Context, obj apply.Object) (*unstructured.Unstructured, error)
	Unchanged(obj apply.Object, live *unstructured.Unstructured) bool
	WouldChange(ctx context.Context, obj apply.Object, live *unstructured.Unstructured) (bool, error)
}

var _ Comparer = (*apply.Manager)(nil)

// Options configure a Watcher.
type Options struct {
	// Cluster names the cluster in findings.
	Cluster string
	// Workers bound the confirmations (GET, dry-run) in flight.
	Workers int
	// OnFinding receives each finding. It is called from the Watcher's
	// goroutines and must not block for long.
	OnFinding func(context.Context, Finding)
	// OnError receives errors of watches and confirmations (a kind that
	// cannot be listed, a dry-run that failed); nil drops them. A panic
	// while comparing one event is such an error (errors.Is(err,
	// panics.ErrPanic), with the stack in its *panics.Error): that event
	// is dropped and the Watcher goes on.
	OnError func(error)
	// OnHealth is told that the health of a tracked object of (app, env)
	// may have changed since it was last seen: its kstatus verdict moved,
	// or, for an object with a health policy, its status or generation.
	// The Watcher does not decide health; the caller reads it again. It
	// is called from the Watcher's goroutines and must not block for
	// long; nil drops the news.
	OnHealth func(app, env string)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultOptions: 4 workers.
func DefaultOptions() Options { return Options{Workers: 4} }

type envKey struct{ app, env string }

// objKey is one object of one (app, env).
type objKey struct {
	envKey
	id string // inventory.ID.Key()
}

// observation is the newest event of an object: its live state, or gone.
type observation struct {
	live *unstructured.Unstructured
	gone bool
}

// intent is the last applied set of one (app, env).
type intent struct {
	// cmp confirms its objects with the server, as whoever applied them.
	cmp  Comparer
	objs map[string]*apply.Object // by ID key; drift mode ignore and read-only left out
	// sealed are the values of its Secrets, as HMACs; objs holds their
	// shapes (no data, no stringData).
	sealed map[string]*sealed
	gvr    map[string]schema.GroupVersionResource
	// health is the last health mark of each object (see healthMark),
	// from the events seen since the first Track.
	health map[string]string
	// paused: an apply is running; events wait in pending until Track.
	paused  bool
	pending map[string]observation
}

// Watcher watches the objects of the tracked intents in one cluster.
// Build it with NewWatcher, start it with Run.
type Watcher struct {
	opts Options
	dyn  dynamic.Interface
	cmp  Comparer
	// macKey keys the HMACs of Secret values; it is made at random for
	// each Watcher and never leaves it.
	macKey []byte

	mu        sync.Mutex
	intents   map[envKey]*intent
	watching  map[schema.GroupVersionResource]*store
	reported  map[objKey]Reason // objects last reported Modified or Deleted
	latest    map[objKey]observation
	runCtx    context.Context // set by Run; watches start under it
	toStart   []*store        // watches asked for before Run
	queue     workqueue.TypedRateLimitingInterface[objKey]
	listeners sync.WaitGroup
}

// NewWatcher returns a Watcher of the cluster that dyn talks to.
func NewWatcher(dyn dynamic.Interface, cmp Comparer, opts Options) *Watcher {
	if opts.Workers < 1 {
		opts.Workers = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	limiter := workqueue.NewTypedItemExponentialFailureRateLimiter[objKey](100*time.Millisecond, 30*time.Second)
	return &Watcher{
		opts: opts, dyn: dyn, cmp: cmp, macKey: newMACKey(),
		intents: map[envKey]*intent{}, watching: map[schema.GroupVersionResource]*store{},
		reported: map[objKey]Reason{}, latest: map[objKey]observation{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(limiter, workqueue.TypedRateLimitingQueueConfig[objKey]{Name: "carina-drift-" + opts.Cluster}),
	}
}

// Run watches and confirms until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	w.mu.Lock()
	w.runCtx = ctx
	start := w.toStart
	w.toStart = nil
	w.mu.Unlock()
	for _, s := range start {
		w.startWatch(ctx, s)
	}
	var wg sync.WaitGroup
	for range w.opts.Workers {
		wg.Go(func() {
			for w.processNext(ctx) {
			}
		})
	}
	<-ctx.Done()
	w.queue.ShutDown()
	wg.Wait()
	w.listeners.Wait()
}

// Pause holds the findings of (app, env) while an apply changes its
// objects: events wait until Track says what the intent is.
func (w *Watcher) Pause(app, env string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := envKey{app, env}
	in := w.intents[k]
	if in == nil {
		in = &intent{}
		w.intents[k] = in
	}
	if !in.paused {
		in.paused, in.pending = true, map[string]observation{}
	}
}

// Track makes set the intent of its (app, env), right after an apply
// made it live, and resumes it. Events that arrived while it was paused
// are checked against it, and so are the objects reported drifted
// before. cmp confirms its objects with the server (the GET of a deleted
// object, the dry-run of a changed one) under the identity that applied
// them, a tenant's for example; nil means the Watcher's own. The watches
// stay the Watcher's. It returns the first kind it cannot watch; the
// others are watched all the same.
//
// Of a Secret the Watcher keeps only the HMAC of each value (see
// sealed) and the other fields: drift of its values is found by hash and
// named by key (Finding.Keys). A withheld Secret (Set.WithoutSecretValues)
// has no values to compare and is not watched (an error).
func (w *Watcher) Track(set *apply.Set, cmp Comparer) error {
	k := envKey{set.App, set.Env}
	if cmp == nil {
		cmp = w.cmp
	}
	in := &intent{cmp: cmp, objs: map[string]*apply.Object{}, sealed: map[string]*sealed{}, gvr: map[string]schema.GroupVersionResource{}}
	var errs []error
	var starts []*store
	for i := range set.Objects {
		o := &set.Objects[i]
		if o.Policies.ReadOnly || o.Policies.Drift.Mode == apply.DriftIgnore {
			continue
		}
		mp, err := w.cmp.Mapping(o.Obj.GroupVersionKind())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		id := inventory.IDOf(o.Obj).Key()
		switch {
		case apply.IsSecret(o.Obj) && o.Withheld:
			errs = append(errs, fmt.Errorf("%s: its values were withheld; its drift is not watched", inventory.IDOf(o.Obj)))
			continue
		case apply.IsSecret(o.Obj):
			in.objs[id], in.sealed[id] = seal(w.macKey, o)
		default:
			in.objs[id] = o
		}
		in.gvr[id] = mp.Resource
		if s := w.watch(mp.Resource); s != nil {
			starts = append(starts, s)
		}
	}
	w.mu.Lock()
	old := w.intents[k]
	w.intents[k] = in
	in.health = map[string]string{}
	var recheck []objKey
	if old != nil {
		for id, mark := range old.health {
			if in.objs[id] != nil {
				in.health[id] = mark
			}
		}
		for id, ob := range old.pending {
			if in.objs[id] != nil {
				ok := objKey{k, id}
				w.latest[ok] = ob
				recheck = append(recheck, ok)
			}
		}
	}
	for ok := range w.reported {
		if ok.envKey != k {
			continue
		}
		if in.objs[ok.id] == nil {
			delete(w.reported, ok)
			continue
		}
		if _, seen := w.latest[ok]; !seen {
			w.latest[ok] = observation{gone: true} // unknown: read it
		}
		recheck = append(recheck, ok)
	}
	ctx := w.runCtx
	if ctx == nil {
		w.toStart = append(w.toStart, starts...)
		starts = nil
	}
	w.mu.Unlock()
	for _, s := range starts {
		w.startWatch(ctx, s)
	}
	for _, ok := range recheck {
		w.queue.Add(ok)
	}
	return errors.Join(errs...)
}

// Forget drops the intent of (app, env): its objects are not watched
// for drift until the next Track.
func (w *Watcher) Forget(app, env string) {
	k := envKey{app, env}
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.intents, k)
	for ok := range w.reported {
		if ok.envKey == k {
			delete(w.reported, ok)
		}
	}
}

// watch returns a new store for gvr when nothing watches it yet.
func (w *Watcher) watch(gvr schema.GroupVersionResource) *store {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.watching[gvr] != nil {
		return nil
	}
	s := &store{w: w, gvr: gvr}
	w.watching[gvr] = s
	return s
}

// observe takes one event of a watched object (from a watch goroutine).
// What is provably unchanged and was not reported is dropped at once;
// the rest is queued for a confirmation.
func (w *Watcher) observe(u *unstructured.Unstructured, gone bool) {
	if p := panics.Catch("drift", func() { w.observeOne(u, gone) }); p != nil && w.opts.OnError != nil {
		w.opts.OnError(fmt.Errorf("drift event of %s: %w", inventory.IDOf(u), p))
	}
}

func (w *Watcher) observeOne(u *unstructured.Unstructured, gone bool) {
	labels := u.GetLabels()
	k := envKey{labels[apply.LabelApp], labels[apply.LabelEnv]}
	if k.app == "" {
		return
	}
	id := inventory.IDOf(u).Key()
	ob := observation{live: u, gone: gone}
	if apply.IsSecret(u) {
		ob = observation{gone: true} // read again when checked: no Secret value is kept
	}
	w.mu.Lock()
	in := w.intents[k]
	if in == nil {
		w.mu.Unlock()
		return
	}
	if in.paused {
		in.pending[id] = ob
		w.mu.Unlock()
		return
	}
	obj, cmp, sl := in.objs[id], in.cmp, in.sealed[id]
	ok := objKey{k, id}
	_, reported := w.reported[ok]
	w.mu.Unlock()
	if obj != nil && !gone {
		w.noteHealth(k, id, obj, u)
	}
	if obj == nil || (!gone && !reported && w.unchanged(cmp, obj, sl, u)) {
		return
	}
	w.mu.Lock()
	w.latest[ok] = ob
	w.mu.Unlock()
	w.queue.Add(ok)
}

// unchanged is the local check of an event: Comparer.Unchanged, and for
// a Secret the hashes of its values first.
func (w *Watcher) unchanged(cmp Comparer, obj *apply.Object, sl *sealed, live *unstructured.Unstructured) bool {
	if sl == nil {
		return cmp.Unchanged(*obj, live)
	}
	if len(sl.differing(w.macKey, live)) > 0 {
		return false
	}
	o, l := sl.localPair(obj, live)
	return cmp.Unchanged(o, l)
}

// missing reports the tracked objects of gvr that a full list did not
// return: they are gone, or no longer carry Carina's labels.
func (w *Watcher) missing(gvr schema.GroupVersionResource, listed map[objKey]bool) {
	var gone []objKey
	w.mu.Lock()
	for k, in := range w.intents {
		for id, r := range in.gvr {
			ok := objKey{k, id}
			if r != gvr || listed[ok] {
				continue
			}
			if in.paused {
				in.pending[id] = observation{gone: true}
				continue
			}
			w.latest[ok] = observation{gone: true}
			gone = append(gone, ok)
		}
	}
	w.mu.Unlock()
	for _, ok := range gone {
		w.queue.Add(ok)
	}
}

func (w *Watcher) processNext(ctx context.Context) bool {
	ok, shutdown := w.queue.Get()
	if shutdown {
		return false
	}
	defer w.queue.Done(ok)
	var err error
	if p := panics.Catch("drift", func() { err = w.check(ctx, ok) }); p != nil {
		err = p
	}
	if err != nil && ctx.Err() == nil {
		if w.opts.OnError != nil {
			w.opts.OnError(fmt.Errorf("drift check of %s in app %s env %s: %w", ok.id, ok.app, ok.env, err))
		}
		if !errors.Is(err, panics.ErrPanic) && w.queue.NumRequeues(ok) < 5 {
			w.queue.AddRateLimited(ok)
			return true
		}
	}
	w.queue.Forget(ok)
	return true
}

// check confirms one queued object with the server and reports a change
// of its drift state.
func (w *Watcher) check(ctx context.Context, ok objKey) error {
	w.mu.Lock()
	ob, queued := w.latest[ok]
	delete(w.latest, ok)
	in := w.intents[ok.envKey]
	var obj *apply.Object
	var cmp Comparer
	var sl *sealed
	if in != nil && !in.paused {
		obj, cmp, sl = in.objs[ok.id], in.cmp, in.sealed[ok.id]
	}
	if in != nil && in.paused && queued {
		in.pending[ok.id] = ob
	}
	w.mu.Unlock()
	if obj == nil || !queued {
		return nil
	}
	live := ob.live
	if ob.gone {
		var err error
		if live, err = cmp.Live(ctx, *obj); err != nil {
			return err
		}
	}
	reason := Deleted
	var keys []string
	if live != nil {
		changed, err := w.changed(ctx, cmp, obj, sl, live, &keys)
		if err != nil {
			return err
		}
		reason = Modified
		if !changed {
			reason = Resolved
		}
	}
	w.report(ctx, ok, obj, reason, keys)
	return nil
}

// changed confirms a change of live with the server (WouldChange). A
// Secret's values are compared by hash first: keys gets the keys that
// differ, and then no dry-run is needed; equal values are confirmed with
// the Secret's other fields.
func (w *Watcher) changed(ctx context.Context, cmp Comparer, obj *apply.Object, sl *sealed, live *unstructured.Unstructured, keys *[]string) (bool, error) {
	if sl == nil {
		return cmp.WouldChange(ctx, *obj, live)
	}
	if *keys = sl.differing(w.macKey, live); len(*keys) > 0 {
		return true, nil
	}
	return cmp.WouldChange(ctx, sl.withLive(obj, live), live)
}

// report sends a finding when the object's state changed: a new or
// different drift, or the end of one.
func (w *Watcher) report(ctx context.Context, ok objKey, obj *apply.Object, reason Reason, keys []string) {
	w.mu.Lock()
	prev, was := w.reported[ok]
	in := w.intents[ok.envKey]
	current := in != nil && !in.paused && in.objs[ok.id] == obj
	switch {
	case !current, reason == Resolved && !was, reason != Resolved && prev == reason:
		w.mu.Unlock()
		return
	case reason == Resolved:
		delete(w.reported, ok)
	default:
		w.reported[ok] = reason
	}
	w.mu.Unlock()
	if w.opts.OnFinding == nil {
		return
	}
	mode := obj.Policies.Drift.Mode
	if mode == "" {
		mode = apply.DriftCorrect
	}
	w.opts.OnFinding(ctx, Finding{
		Cluster: w.opts.Cluster, App: ok.app, Env: ok.env, ID: inventory.IDOf(obj.Obj), Component: obj.Component,
		Mode: mode, Reason: reason, Keys: keys, Seen: w.opts.Now(),
	})
}
