package apply

import (
	"context"
	"errors"

	"github.com/carina-gitops/carina/apply/diff"
	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/internal/panics"
)

// DiffOptions configure Diff.
type DiffOptions struct {
	// Prune also lists what an apply with prune would delete.
	Prune bool
}

// Diff reports what Apply would change, without writing: each object's
// changed fields from the server's dry-run against the live object (the
// desired object for one that would be created), and with opts.Prune the
// objects prune would delete. Objects that cannot be dry-run yet because
// the set creates their namespace or CRD are shown as created. Dry-run
// failures are returned together, with the diffs of the rest.
func (m *Manager) Diff(ctx context.Context, set *Set, opts DiffOptions) (_ []diff.Object, err error) {
	defer panics.Recover("apply", &err)
	if err := set.validate(); err != nil {
		return nil, err
	}
	a := &applier{m: m, set: set, km: newKindMapper(m, set.Objects), cs: &ChangeSet{}}
	if a.old, err = m.ReadInventory(ctx, set.App, set.Env); err != nil {
		return nil, err
	}
	if err := a.prepare(); err != nil {
		return nil, err
	}
	var mapped []*item
	for _, it := range a.items {
		if it.mapping != nil {
			mapped = append(mapped, it)
		}
	}
	if err := a.observe(ctx, "diff", mapped); err != nil {
		return nil, err
	}
	a.decideLocally(mapped)
	a.dryRunAll(ctx, mapped)
	if err := a.decideAfterDryRun(ctx, mapped); err != nil {
		return nil, err
	}
	created := a.createdNamespaces()
	var out []diff.Object
	var errs []error
	for _, it := range a.items {
		d, err := diffItem(it, created, set)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, d)
	}
	if opts.Prune {
		del, err := a.prunePreview(ctx)
		out = append(out, del...)
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// createdNamespaces are the Namespaces of the set that do not exist yet.
func (a *applier) createdNamespaces() map[string]bool {
	out := map[string]bool{}
	for _, it := range a.items {
		if it.id.GroupKind() == namespaceGK && it.dry != nil && it.dry.GetResourceVersion() == "" {
			out[it.id.Name] = true
		}
	}
	return out
}

// diffItem turns an item's decision into its diff.
func diffItem(it *item, createdNS map[string]bool, set *Set) (diff.Object, error) {
	ref := it.id.String()
	switch {
	case it.mapping == nil: // its CRD is in the set and not served yet
		return diff.Compute(ref, nil, it.desired), nil
	case it.decided && it.entry.Action == Failed:
		if (createdNS[it.id.Namespace] && isNotFound(it.entry.Err)) || namespaceMissing(it.entry.Err) {
			return diff.Compute(ref, nil, it.desired), nil
		}
		return diff.Object{}, it.entry.Err
	case it.decided:
		return diff.Object{Ref: ref, Action: diff.Unchanged}, nil
	}
	switch it.write {
	case writeShare:
		marked := it.live.DeepCopy()
		ann := marked.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[shareKey(set.App, set.Env)] = set.App + "/" + set.Env
		marked.SetAnnotations(ann)
		return diff.Compute(ref, it.live, marked), nil
	case writeRecreate:
		return diff.Compute(ref+" (recreated)", it.live, it.desired), nil
	}
	if it.dry.GetResourceVersion() == "" {
		return diff.Compute(ref, nil, it.desired), nil
	}
	return diff.Compute(ref, it.live, it.dry), nil
}

// prunePreview lists the objects prune would delete.
func (a *applier) prunePreview(ctx context.Context) ([]diff.Object, error) {
	p := &pruner{m: a.m, set: a.set, km: a.km}
	var todo []*pruneItem
	for _, e := range a.notInSet() {
		if e.Prune == inventory.PruneOnUpdate {
			todo = append(todo, p.newItem(e))
		}
	}
	if err := p.observe(ctx, todo); err != nil {
		return nil, err
	}
	var out []diff.Object
	for _, it := range todo {
		if wouldDelete(it, a.set) {
			out = append(out, diff.Compute(it.id.String(), it.live, nil))
		}
	}
	return out, nil
}

// wouldDelete mirrors pruner.decide without acting.
func wouldDelete(it *pruneItem, set *Set) bool {
	return it.live != nil && it.ours && !it.decided &&
		it.live.GetAnnotations()[AnnotationPrune] != "disabled" &&
		len(sharers(it.live, set.App, set.Env)) == 0
}
