package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/carina-gitops/carina/apply/health"
)

// writeWave writes the wave's items in parallel, after recording the
// whole set in the inventory (once per apply) so that a crash during the
// writes leaves nothing unaccounted for. It returns the number of write
// requests.
func (a *applier) writeWave(ctx context.Context, wave []*item) (int, error) {
	var todo []*item
	for _, it := range wave {
		if !it.decided && it.write != noWrite {
			todo = append(todo, it)
		}
	}
	if len(todo) == 0 {
		return 0, nil
	}
	if err := a.preWrite(ctx); err != nil {
		return 0, err
	}
	writes := make([]int, len(todo))
	a.m.parallel(ctx, len(todo), func(ctx context.Context, i int) {
		writes[i] = a.writeItem(ctx, todo[i])
	})
	n := 0
	for _, w := range writes {
		n += w
	}
	return n, nil
}

// writeItem performs an item's write and decides its entry. It returns
// the number of write requests.
func (a *applier) writeItem(ctx context.Context, it *item) int {
	a.m.callHook("write", it.id)
	reason := it.entry.Reason
	switch it.write {
	case writeShare:
		if err := a.m.markShared(ctx, it, a.set.App, a.set.Env, true); err != nil {
			it.fail(err)
		} else {
			it.decide(Configured, reason, nil)
		}
		return 1
	case writeRecreate:
		if err := a.m.deleteAndWait(ctx, it); err != nil {
			it.fail(err)
			return 1
		}
		if _, err := a.m.applyObject(ctx, it, false, a.forced(it)); err != nil {
			it.fail(err)
		} else {
			it.decide(Configured, "recreated: an immutable field changed", nil)
		}
		return 2
	}
	writes := 1
	if reason == ReasonAdopted {
		if err := a.m.releaseFromKubeVela(ctx, it); err != nil {
			it.fail(err)
			return 1
		}
		writes++
	}
	_, err := a.m.applyObject(ctx, it, false, a.forced(it))
	switch {
	case err != nil:
		it.fail(err)
	case it.dry != nil && it.dry.GetResourceVersion() == "":
		it.decide(Created, reason, nil)
	default:
		it.decide(Configured, reason, nil)
	}
	return writes
}

// forced says whether a write forces field conflicts. With Force, Git
// wins over other field managers (a `kubectl edit`) only on an object that
// is this app's: labelled for it, or unlabelled and being corrected or
// taken over. An object that did not exist when it was read (someone may
// have created it since) or that another app's labels claim is written
// without force, so a conflict fails it instead of stealing the fields;
// the take-over policy forces regardless (applyObject).
func (a *applier) forced(it *item) bool {
	switch {
	case !a.opts.Force:
		return false
	case it.ours:
		return true
	case it.live == nil:
		return false
	default:
		return !ownedByAnotherApp(it.live)
	}
}

// deleteAndWait deletes the live object (only the one seen, by UID) in
// the foreground and waits until it is gone.
func (m *Manager) deleteAndWait(ctx context.Context, it *item) error {
	live := it.live
	if live == nil {
		var err error
		if live, err = m.get(ctx, it.mapping, it.id); err != nil {
			return err
		}
	}
	if live != nil {
		uid := live.GetUID()
		opts := metav1.DeleteOptions{PropagationPolicy: ptr(metav1.DeletePropagationForeground), Preconditions: &metav1.Preconditions{UID: &uid}}
		err := m.retry(ctx, func() error {
			return m.resource(it.mapping, it.id.Namespace).Delete(ctx, it.id.Name, opts)
		})
		if err != nil && !isNotFound(err) {
			return &ObjectError{ID: it.id, Op: "delete", Err: err}
		}
	}
	return m.poll(ctx, func() (bool, error) {
		u, err := m.get(ctx, it.mapping, it.id)
		return u == nil, err
	})
}

// poll calls done every PollInterval until it reports true, fails, or
// ctx ends.
func (m *Manager) poll(ctx context.Context, done func() (bool, error)) error {
	t := time.NewTicker(m.opts.PollInterval)
	defer t.Stop()
	for {
		ok, err := done()
		if ok || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// waitEstablished waits until the stage's CRDs are established, then
// forgets discovery so that their kinds map.
func (a *applier) waitEstablished(ctx context.Context, items []*item) error {
	var crds []*item
	changed := false
	for _, it := range items {
		if it.id.GroupKind() == crdGK {
			crds = append(crds, it)
			changed = changed || it.entry.Action == Created || it.entry.Action == Configured
		}
	}
	for _, it := range crds {
		err := a.m.poll(ctx, func() (bool, error) {
			u, err := a.m.get(ctx, it.mapping, it.id)
			if err != nil || u == nil {
				return false, err
			}
			r, _ := health.Compute(u)
			if r.Status == health.Failed {
				return false, fmt.Errorf("%s: %s", it.id, r.Message)
			}
			return r.Status == health.Current, nil
		})
		if err != nil {
			return &StageError{Stage: StageDefinitions, Phase: "wait", Failed: 1, Total: len(crds),
				Errs: []error{&ObjectError{ID: it.id, Op: "wait", Err: err}}}
		}
	}
	if changed {
		a.km.reset()
	}
	return nil
}

// markShared adds (or, with add false, removes) this app's share mark on
// an object another app owns. The mark is an annotation that a field
// manager of this app alone owns, so that removing it leaves the rest.
func (m *Manager) markShared(ctx context.Context, it *item, app, env string, add bool) error {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(it.desired.GetAPIVersion())
	u.SetKind(it.id.Kind)
	u.SetName(it.id.Name)
	u.SetNamespace(it.id.Namespace)
	if add {
		u.SetAnnotations(map[string]string{shareKey(app, env): app + "/" + env})
	}
	body, err := json.Marshal(u.Object)
	if err != nil {
		return err
	}
	err = m.retry(ctx, func() error {
		_, err := m.resource(it.mapping, it.id.Namespace).Patch(ctx, it.id.Name, types.ApplyPatchType, body,
			metav1.PatchOptions{FieldManager: shareManager(app, env)})
		return err
	})
	if err != nil {
		return classify(it.id, "share", err)
	}
	return nil
}
