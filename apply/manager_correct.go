package apply

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/internal/panics"
)

// ReasonDriftCorrected is the entry reason of an object Correct wrote.
const ReasonDriftCorrected = "drift corrected"

// Correct re-applies the objects ids of set, the set the last Apply made
// live, forcing field conflicts: it is the drift correction. Each object
// is read once (GET). What the policies leave alone (read-only,
// apply-once) and what is provably unchanged is not written; the rest is
// one forced server-side apply each, which keeps the live values of the
// drift policy's IgnoreFields. Correct neither lists, prunes nor
// rewrites the inventory, because the set did not change. An object that
// another app's labels now claim is not taken (an ownership error) unless
// the take-over policy says so. A withheld object (a Secret of a set
// kept after its apply, Set.WithoutSecretValues) fails with ErrWithheld
// and is not read. The change set has one entry per id found in the
// set, also with an error.
func (m *Manager) Correct(ctx context.Context, set *Set, ids []ID) (_ *ChangeSet, err error) {
	defer panics.Recover("apply", &err)
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id.Key()] = true
	}
	a := &applier{m: m, set: set, opts: ApplyOptions{Force: true}, km: newKindMapper(m, set.Objects), cs: &ChangeSet{App: set.App, Env: set.Env}}
	var mapped []*item
	for i := range set.Objects {
		o := &set.Objects[i]
		id := inventory.IDOf(o.Obj)
		if !want[id.Key()] {
			continue
		}
		it := &item{obj: o, id: id, desired: o.Obj}
		a.items = append(a.items, it)
		if o.Withheld && !o.Policies.ReadOnly {
			it.fail(withheldError(id))
			continue
		}
		if err := a.mapItem(it); err != nil {
			it.fail(err)
			continue
		}
		mapped = append(mapped, it)
	}
	if err := a.fetch(ctx, mapped); err != nil {
		return nil, fmt.Errorf("app %s env %s: reading drifted objects: %w", set.App, set.Env, err)
	}
	a.decideLocally(mapped)
	todo := a.corrections(mapped)
	m.parallel(ctx, len(todo), func(ctx context.Context, i int) {
		it := todo[i]
		a.writeItem(ctx, it)
		if it.entry.Action == Configured && it.live == nil {
			it.entry.Action = Created
		}
	})
	var errs []error
	for _, it := range a.items {
		a.cs.Entries = append(a.cs.Entries, it.entry)
		if it.entry.Err != nil {
			errs = append(errs, it.entry.Err)
		}
	}
	return a.cs, errors.Join(errs...)
}

// corrections decides the writes of the objects decideLocally left
// open: the policies' own writes (a share mark), an ownership error for
// an object another app claims, and otherwise a forced apply that keeps
// the live values of the drift policy's IgnoreFields.
func (a *applier) corrections(items []*item) []*item {
	var todo []*item
	for _, it := range items {
		switch {
		case it.decided:
		case it.write != noWrite:
			todo = append(todo, it)
		case it.live != nil && !it.ours && ownedByAnotherApp(it.live) && !it.obj.Policies.TakeOver:
			app, env := ownerOf(it.live)
			it.fail(&OwnershipError{ID: it.id, OwnerApp: app, OwnerEnv: env})
		default:
			if ign := it.obj.Policies.Drift.IgnoreFields; len(ign) > 0 && it.live != nil {
				d, err := keepLive(it.desired, it.live, ign)
				if err != nil {
					it.fail(fmt.Errorf("%s: %w", it.id, err))
					continue
				}
				it.desired = d
			}
			it.write = writeApply
			it.entry.Reason = ReasonDriftCorrected
			todo = append(todo, it)
		}
	}
	return todo
}

// Mapping returns the resource that serves gvk; discovery is read again
// once when the kind is unknown.
func (m *Manager) Mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	return newKindMapper(m, nil).mapping(gvk)
}

// Live reads obj's live counterpart; nil when it does not exist.
func (m *Manager) Live(ctx context.Context, obj Object) (*unstructured.Unstructured, error) {
	id := inventory.IDOf(obj.Obj)
	mp, err := m.Mapping(obj.Obj.GroupVersionKind())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	return m.get(ctx, mp, id)
}

// Unchanged reports, without a request, whether obj's fields hold obj's
// values in live and the field manager still owns them: the manager's
// entry names exactly obj's fields and live has obj's values there. The
// paths of the drift policy's IgnoreFields and of apply-once are left
// out of the comparison. False means "not provable", not "changed":
// WouldChange settles it.
func (m *Manager) Unchanged(obj Object, live *unstructured.Unstructured) bool {
	fs, ok := appliedFields(obj.Obj, live, m.opts.FieldManager)
	if !ok {
		return false
	}
	desired := identityless(obj.Obj.Object)
	if paths := driftIgnored(obj); len(paths) > 0 {
		d := &unstructured.Unstructured{Object: runtime.DeepCopyJSON(desired)}
		for _, p := range paths {
			steps, err := parsePath(p)
			if err != nil || !dropPath(d.Object, fs, steps) {
				return false
			}
		}
		desired = d.Object
	}
	return coversMap(desired, live.Object, fs)
}

// WouldChange reports whether a forced apply of obj would change a value
// of live (a server-side dry-run when Unchanged cannot prove it). Who
// owns a field is not a change: another manager that set one of obj's
// fields to obj's value changed nothing. When live is older than what
// the server holds, the object is read again and compared once more. A
// nil live is a change (the object would be created).
func (m *Manager) WouldChange(ctx context.Context, obj Object, live *unstructured.Unstructured) (bool, error) {
	id := inventory.IDOf(obj.Obj)
	for attempt := 0; ; attempt++ {
		if live == nil {
			return true, nil
		}
		if m.Unchanged(obj, live) {
			return false, nil
		}
		d := obj.Obj
		if paths := driftIgnored(obj); len(paths) > 0 {
			var err error
			if d, err = keepLive(obj.Obj, live, paths); err != nil {
				return false, fmt.Errorf("%s: %w", id, err)
			}
		}
		dry, err := m.dryRunForced(ctx, obj, d)
		if err != nil {
			return false, err
		}
		if dry.GetResourceVersion() == live.GetResourceVersion() || attempt > 0 {
			return !sameValues(dry, live), nil
		}
		if live, err = m.Live(ctx, obj); err != nil {
			return false, err
		}
	}
}

// driftIgnored are the paths whose live values are not drift: the drift
// policy's IgnoreFields and apply-once's paths.
func driftIgnored(obj Object) []string {
	return append(append([]string(nil), obj.Policies.Drift.IgnoreFields...), obj.Policies.ApplyOnce.Paths...)
}

// dropPath removes a path of map keys from obj and from the field set
// fs; a path through a list cannot be dropped from a field set and
// reports false.
func dropPath(obj, fs map[string]any, steps []pathStep) bool {
	for i, s := range steps {
		if s.index >= 0 {
			return false
		}
		if i == len(steps)-1 {
			delete(obj, s.key)
			delete(fs, "f:"+s.key)
			return true
		}
		next, _ := obj[s.key].(map[string]any)
		nextFS, _ := fs["f:"+s.key].(map[string]any)
		if next == nil || nextFS == nil {
			return true // absent on one side: nothing to compare there
		}
		obj, fs = next, nextFS
	}
	return true
}

// sameValues reports whether a dry-run result equals live in everything
// but managedFields.
func sameValues(dry, live *unstructured.Unstructured) bool {
	strip := func(u *unstructured.Unstructured) map[string]any {
		c := u.DeepCopy()
		c.SetManagedFields(nil)
		return c.Object
	}
	return reflect.DeepEqual(strip(dry), strip(live))
}

// dryRunForced returns what a forced apply of d (obj's object, or its
// drift view) would make of the live object, without writing: the
// apply engine's own dry-run.
func (m *Manager) dryRunForced(ctx context.Context, obj Object, d *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	id := inventory.IDOf(d)
	mp, err := m.Mapping(d.GroupVersionKind())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	return m.applyObject(ctx, &item{obj: &obj, id: id, desired: d, mapping: mp}, true, true)
}
