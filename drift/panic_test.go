package drift

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/internal/panics"
)

// panickyComparer is the real apply.Manager with a fault injected: the
// comparisons of two objects panic, as a bug in a comparison would.
type panickyComparer struct{ *apply.Manager }

func (p panickyComparer) Unchanged(obj apply.Object, live *unstructured.Unstructured) bool {
	if obj.Obj.GetName() == "boom-observe" {
		panic("injected panic in Unchanged")
	}
	return p.Manager.Unchanged(obj, live)
}

func (p panickyComparer) WouldChange(ctx context.Context, obj apply.Object, live *unstructured.Unstructured) (bool, error) {
	if obj.Obj.GetName() == "boom-check" {
		panic("injected panic in WouldChange")
	}
	return p.Manager.WouldChange(ctx, obj, live)
}

// TestComparisonPanicFailsOnlyThatEvent: a panic while comparing an event
// (in the watch's goroutine, or in a confirmation worker) goes to OnError
// as a *panics.Error; the other object's drift is still found, and the
// Watcher goes on.
func TestComparisonPanicFailsOnlyThatEvent(t *testing.T) {
	f := newFixture(t)
	dyn, err := dynamic.NewForConfig(testUserConfig)
	if err != nil {
		t.Fatal(err)
	}
	findings := make(chan Finding, 10)
	var mu sync.Mutex
	var errs []error
	opts := DefaultOptions()
	opts.OnFinding = func(_ context.Context, fd Finding) { findings <- fd }
	opts.OnError = func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
	w := NewWatcher(dyn, panickyComparer{f.m}, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	s := f.set(f.configMap("boom-observe", map[string]any{"v": "1"}), f.configMap("boom-check", map[string]any{"v": "1"}),
		f.configMap("calm", map[string]any{"v": "1"}))
	w.Pause(s.App, s.Env)
	if _, err := f.m.Apply(t.Context(), s, apply.ApplyOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if err := w.Track(s, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"boom-observe", "boom-check", "calm"} {
		_, err := testClient.CoreV1().ConfigMaps(f.ns).Patch(t.Context(), name, types.MergePatchType, []byte(`{"data":{"v":"edited"}}`), metav1.PatchOptions{FieldManager: "kubectl-patch"})
		if err != nil {
			t.Fatal(err)
		}
	}
	select {
	case fd := <-findings:
		if fd.ID.Name != "calm" || fd.Reason != Modified {
			t.Errorf("finding %+v, want calm modified", fd)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no finding for calm within 10s")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		var seen []string
		for _, err := range errs {
			var p *panics.Error
			if errors.As(err, &p) && len(p.Stack) > 0 {
				seen = append(seen, err.Error())
			}
		}
		mu.Unlock()
		all := strings.Join(seen, "\n")
		if strings.Contains(all, "injected panic in Unchanged") && strings.Contains(all, "injected panic in WouldChange") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("OnError got %q, want both injected panics as *panics.Error", all)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
