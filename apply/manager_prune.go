package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/carina-gitops/carina/apply/inventory"
)

// pruneItem is one prune candidate.
type pruneItem struct {
	item
	inv  inventory.Entry
	keep bool // stays in the inventory
}

// pruner deletes what left the set of one (app, env).
type pruner struct {
	m         *Manager
	set       *Set // only App and Env are used
	km        *kindMapper
	appDelete bool
	entries   []Entry
}

// prune deletes the candidates that may be deleted and returns the
// inventory entries to keep: rejected deletes (retried next time) and
// objects kept until the app is deleted.
func (a *applier) prune(ctx context.Context, candidates []inventory.Entry) ([]inventory.Entry, error) {
	p := &pruner{m: a.m, set: a.set, km: a.km}
	start := time.Now()
	kept, n, err := p.run(ctx, candidates)
	a.wrote = a.wrote || n > 0
	a.cs.Entries = append(a.cs.Entries, p.entries...)
	rep := StageReport{Name: StagePrune, Objects: len(candidates), Writes: n, Duration: time.Since(start)}
	a.cs.Stages = append(a.cs.Stages, rep)
	if a.opts.Progress != nil {
		a.opts.Progress(rep)
	}
	return kept, err
}

func (p *pruner) run(ctx context.Context, candidates []inventory.Entry) ([]inventory.Entry, int, error) {
	var kept []inventory.Entry
	var todo []*pruneItem
	for _, e := range candidates {
		switch {
		case e.Prune == inventory.PruneNever:
			p.entries = append(p.entries, Entry{ID: e.ID, Action: Skipped, Reason: "garbage-collect: never; left alone and forgotten"})
		case e.Prune == inventory.PruneOnAppDelete && !p.appDelete:
			kept = append(kept, e)
		default:
			todo = append(todo, p.newItem(e))
		}
	}
	if err := p.observe(ctx, todo); err != nil {
		return append(kept, candidates...), 0, err
	}
	n := p.act(ctx, todo)
	var errs []error
	for _, it := range todo {
		if it.decided {
			p.entries = append(p.entries, it.entry)
			if it.entry.Action == Failed {
				errs = append(errs, it.entry.Err)
			}
		}
		if it.keep {
			kept = append(kept, it.inv)
		}
	}
	if len(errs) > 0 {
		return kept, n, &StageError{Stage: StagePrune, Phase: "delete", Failed: len(errs), Total: len(todo), Errs: errs}
	}
	return kept, n, nil
}

func (p *pruner) newItem(e inventory.Entry) *pruneItem {
	it := &pruneItem{inv: e}
	it.id = e.ID
	it.obj = &Object{}
	it.desired = &unstructured.Unstructured{}
	return it
}

// observe maps the candidates' kinds and reads them: one LIST per
// resource of the objects labelled for this app, and a GET of each
// candidate the LIST did not return (gone, shared, or not ours).
func (p *pruner) observe(ctx context.Context, todo []*pruneItem) error {
	var items []*item
	for _, it := range todo {
		mp, err := p.km.groupKind(it.id.GroupKind())
		if err != nil {
			if errors.Is(err, errNotServed) {
				it.decide(Skipped, "its kind is no longer served; forgotten", nil)
			} else {
				it.keep = true
				it.fail(&ObjectError{ID: it.id, Op: "delete", Err: err})
			}
			continue
		}
		it.mapping = mp
		it.desired.SetGroupVersionKind(mp.GroupVersionKind)
		items = append(items, &it.item)
	}
	listed, err := p.m.listOwned(ctx, p.set.App, p.set.Env, items)
	if err != nil {
		return fmt.Errorf("app %s env %s: listing objects to prune: %w", p.set.App, p.set.Env, err)
	}
	var gets []*pruneItem
	for _, it := range todo {
		if it.mapping == nil {
			continue
		}
		if u := listed[it.id.Key()]; u != nil {
			it.live, it.ours = u, true
		} else {
			gets = append(gets, it)
		}
	}
	errs := make([]error, len(gets))
	p.m.parallel(ctx, len(gets), func(ctx context.Context, i int) {
		it := gets[i]
		it.live, errs[i] = p.m.get(ctx, it.mapping, it.id)
		it.ours = it.live != nil && p.set.ours(it.live)
	})
	for i, err := range errs {
		if err != nil {
			gets[i].keep = true
			gets[i].fail(err)
		}
	}
	return nil
}

// act decides each candidate and deletes what may be deleted:
// namespaced objects first, then Namespaces, then CRDs. It returns the
// number of write requests.
func (p *pruner) act(ctx context.Context, todo []*pruneItem) int {
	var groups [3][]*pruneItem
	n := 0
	for _, it := range todo {
		if it.decided || it.mapping == nil {
			continue
		}
		if w, del := p.decide(ctx, it); !del {
			n += w
			continue
		}
		switch it.id.GroupKind() {
		case crdGK:
			groups[2] = append(groups[2], it)
		case namespaceGK:
			groups[1] = append(groups[1], it)
		default:
			groups[0] = append(groups[0], it)
		}
	}
	for _, g := range groups {
		p.m.parallel(ctx, len(g), func(ctx context.Context, i int) { p.delete(ctx, g[i]) })
		n += len(g)
	}
	return n
}

// decide settles a candidate that is not deleted (and reports the writes
// that took), or says it is to be deleted.
func (p *pruner) decide(ctx context.Context, it *pruneItem) (writes int, del bool) {
	app, env := p.set.App, p.set.Env
	switch {
	case it.live == nil: // already gone: nothing to report
		return 0, false
	case !it.ours && hasShareMark(it.live, app, env):
		if err := p.m.markShared(ctx, &it.item, app, env, false); err != nil {
			it.keep = true
			it.fail(err)
		} else {
			it.decide(Pruned, "no longer shared with this app", nil)
		}
		return 1, false
	case !it.ours:
		o, e := ownerOf(it.live)
		it.decide(Skipped, fmt.Sprintf("not deleted: its labels name app %q env %q; forgotten", o, e), nil)
		return 0, false
	case it.live.GetAnnotations()[AnnotationPrune] == "disabled":
		it.decide(Skipped, "not deleted: "+AnnotationPrune+"=disabled; forgotten", nil)
		return 0, false
	}
	if others := sharers(it.live, app, env); len(others) > 0 {
		if err := p.m.handOver(ctx, &it.item, others[0]); err != nil {
			it.keep = true
			it.fail(err)
		} else {
			it.decide(Skipped, "not deleted: handed over to "+others[0]+", which shares it", nil)
		}
		return 1, false
	}
	return 0, true
}

// delete deletes one object: only the one seen (by UID), in the
// foreground unless the entry says orphan.
func (p *pruner) delete(ctx context.Context, it *pruneItem) {
	uid := it.live.GetUID()
	prop := metav1.DeletePropagationForeground
	if it.inv.Orphan {
		prop = metav1.DeletePropagationOrphan
	}
	opts := metav1.DeleteOptions{PropagationPolicy: &prop, Preconditions: &metav1.Preconditions{UID: &uid}}
	err := p.m.retry(ctx, func() error {
		return p.m.resource(it.mapping, it.id.Namespace).Delete(ctx, it.id.Name, opts)
	})
	if err != nil && !isNotFound(err) {
		it.keep = true
		it.fail(&ObjectError{ID: it.id, Op: "delete", Err: err})
		return
	}
	it.decide(Pruned, "", nil)
}

// handOver gives an object this app owns to the first app sharing it:
// its labels then name that app, whose share mark goes.
func (m *Manager) handOver(ctx context.Context, it *item, to string) error {
	app, env, _ := strings.Cut(to, "/")
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"resourceVersion": it.live.GetResourceVersion(),
		"labels":          map[string]any{LabelApp: app, LabelEnv: env},
		"annotations":     map[string]any{shareKey(app, env): nil},
	}})
	if err != nil {
		return err
	}
	err = m.retry(ctx, func() error {
		_, err := m.resource(it.mapping, it.id.Namespace).Patch(ctx, it.id.Name, types.MergePatchType, patch,
			metav1.PatchOptions{FieldManager: shareManager(app, env)})
		return err
	})
	if err != nil {
		return classify(it.id, "hand-over", err)
	}
	return nil
}

// hasShareMark reports whether (app, env) marked u as shared.
func hasShareMark(u *unstructured.Unstructured, app, env string) bool {
	_, ok := u.GetAnnotations()[shareKey(app, env)]
	return ok
}
