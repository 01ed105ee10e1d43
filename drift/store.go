package drift

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/inventory"
)

// store receives the watch of one resource type. It keeps nothing: each
// event goes to the Watcher, which drops what is in line at once, so the
// memory cost is the intents, not a cache of the cluster's objects.
type store struct {
	w   *Watcher
	gvr schema.GroupVersionResource
}

var _ cache.ReflectorStore = (*store)(nil)

func (s *store) Add(obj any) error    { s.event(obj, false); return nil }
func (s *store) Update(obj any) error { s.event(obj, false); return nil }
func (s *store) Delete(obj any) error { s.event(obj, true); return nil }
func (s *store) Resync() error        { return nil }

// Replace takes a full list: after the first list, and after a watch
// that had to start over. Tracked objects it lacks are checked.
func (s *store) Replace(list []any, _ string) error {
	listed := make(map[objKey]bool, len(list))
	for _, obj := range list {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		l := u.GetLabels()
		listed[objKey{envKey{l[apply.LabelApp], l[apply.LabelEnv]}, inventory.IDOf(u).Key()}] = true
		s.w.observe(u, false)
	}
	s.w.missing(s.gvr, listed)
	return nil
}

func (s *store) event(obj any, gone bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if u, ok := obj.(*unstructured.Unstructured); ok {
		s.w.observe(u, gone)
	}
}

// startWatch runs a reflector of s's resource type, cluster-wide, for
// the objects that carry Carina's app label, until ctx ends. The
// reflector lists again with backoff after errors; list errors (no
// permission to list the kind, say) go to OnError.
func (w *Watcher) startWatch(ctx context.Context, s *store) {
	ri := w.dyn.Resource(s.gvr)
	selector := apply.LabelApp
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			l, err := ri.List(ctx, o)
			if err != nil && w.opts.OnError != nil && ctx.Err() == nil {
				w.opts.OnError(fmt.Errorf("drift watch of %s: %w", s.gvr.String(), err))
			}
			return l, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			return ri.Watch(ctx, o)
		},
	}
	discard := logr.Discard()
	r := cache.NewReflectorWithOptions(lw, &unstructured.Unstructured{}, s, cache.ReflectorOptions{
		Name: "carina-drift " + s.gvr.String(), Logger: &discard,
	})
	w.listeners.Go(func() { r.RunWithContext(ctx) })
}
