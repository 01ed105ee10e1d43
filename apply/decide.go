package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// decideLocally settles what needs no request: read-only and apply-once
// objects, shares, and objects that are provably unchanged.
func (a *applier) decideLocally(items []*item) {
	fm := a.m.opts.FieldManager
	for _, it := range items {
		if it.decided {
			continue
		}
		p := it.obj.Policies
		switch {
		case p.ReadOnly && it.live == nil:
			it.fail(&ObjectError{ID: it.id, Op: "get", Err: errors.New("read-only object does not exist")})
			continue
		case p.ReadOnly:
			it.decide(Skipped, "read-only", nil)
			continue
		case p.ApplyOnce.whole() && it.live != nil:
			it.decide(Skipped, "apply-once: the object exists", nil)
			continue
		case p.Shared && it.live != nil && !it.ours && ownedByAnotherApp(it.live):
			a.decideShare(it)
			continue
		case p.ApplyOnce.Enabled && it.live != nil:
			d, err := keepLive(it.obj.Obj, it.live, p.ApplyOnce.Paths)
			if err != nil {
				it.fail(fmt.Errorf("%s: %w", it.id, err))
				continue
			}
			it.desired = d
		}
		if it.ours && provablyUnchanged(it.desired, it.live, fm) {
			it.decide(Unchanged, "", nil)
		}
	}
}

// decideShare marks an object another app owns as shared with this one.
func (a *applier) decideShare(it *item) {
	it.sharer = true
	app, env := ownerOf(it.live)
	reason := fmt.Sprintf("shared: owned by app %s env %s", app, env)
	if _, ok := it.live.GetAnnotations()[shareKey(a.set.App, a.set.Env)]; ok {
		it.decide(Unchanged, reason, nil)
		return
	}
	it.write = writeShare
	it.entry.Reason = reason
}

// dryRunAll dry-runs every undecided item in parallel and returns how
// many requests it made.
func (a *applier) dryRunAll(ctx context.Context, items []*item) int {
	var todo []*item
	for _, it := range items {
		if !it.decided && it.write == noWrite {
			todo = append(todo, it)
		}
	}
	a.m.parallel(ctx, len(todo), func(ctx context.Context, i int) {
		it := todo[i]
		dry, err := a.m.dryRun(ctx, it, a.opts.Force)
		var imm *ImmutableError
		switch {
		case err == nil:
			it.dry = dry
		case errors.As(err, &imm) && it.obj.Policies.Recreate:
			it.write = writeRecreate
		default:
			it.fail(err)
		}
	})
	return len(todo)
}

// dryRun asks the server whether the item can be applied. An object that
// the LIST did not return is most likely new: a dry-run create (strict
// field validation, as server-side apply has) validates it more cheaply
// than a dry-run apply. If it exists after all, or is known to exist but
// not to be ours, it is dry-run applied with force: a conflict would hide
// whether it exists and whose it is, which decideForeign settles before
// any write.
func (m *Manager) dryRun(ctx context.Context, it *item, force bool) (*unstructured.Unstructured, error) {
	if it.ours {
		return m.applyObject(ctx, it, true, force)
	}
	if it.live == nil {
		out, err := m.createDryRun(ctx, it)
		if !apierrors.IsAlreadyExists(errors.Unwrap(err)) {
			return out, err
		}
	}
	return m.applyObject(ctx, it, true, true)
}

func (m *Manager) createDryRun(ctx context.Context, it *item) (*unstructured.Unstructured, error) {
	err := m.retry(ctx, func() error {
		return m.wire.createDryRun(ctx, it.mapping, it.desired, m.opts.FieldManager)
	})
	if err == nil {
		return wouldCreate, nil
	}
	if !errors.Is(err, errNotBuiltin) {
		return nil, classify(it.id, "dry-run", err)
	}
	opts := metav1.CreateOptions{FieldManager: m.opts.FieldManager, DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"}
	err = m.retry(ctx, func() error {
		_, err := m.resource(it.mapping, it.id.Namespace).Create(ctx, it.desired, opts)
		return err
	})
	if err != nil {
		return nil, classify(it.id, "dry-run", err)
	}
	return wouldCreate, nil
}

// wouldCreate is the dry-run result of an object that does not exist yet:
// its empty resourceVersion says so. Nobody reads more of it.
var wouldCreate = &unstructured.Unstructured{Object: map[string]any{}}

// decideAfterDryRun compares each dry-run result with the live object,
// and refuses to adopt objects that belong to someone else.
func (a *applier) decideAfterDryRun(ctx context.Context, items []*item) error {
	var foreign, moved []*item
	for _, it := range items {
		if it.decided || it.dry == nil {
			continue
		}
		existed := it.dry.GetResourceVersion() != ""
		switch {
		case existed && !it.ours:
			foreign = append(foreign, it)
		case existed && sameAfterDryRun(it.dry, it.live):
			it.decide(Unchanged, "", nil)
		case existed && it.dry.GetResourceVersion() != it.live.GetResourceVersion():
			moved = append(moved, it) // changed since the LIST: compare again
		default:
			it.write = writeApply
		}
	}
	if err := a.fetch(ctx, moved); err != nil {
		return err
	}
	for _, it := range moved {
		if sameAfterDryRun(it.dry, it.live) {
			it.decide(Unchanged, "", nil)
		} else {
			it.write = writeApply
		}
	}
	if len(foreign) == 0 {
		return nil
	}
	var unknown []*item
	for _, it := range foreign {
		if !it.known {
			unknown = append(unknown, it)
		}
	}
	if err := a.fetch(ctx, unknown); err != nil {
		return err
	}
	for _, it := range foreign {
		a.decideForeign(it)
	}
	return nil
}

// decideForeign handles an existing object whose labels do not name this
// app and env.
func (a *applier) decideForeign(it *item) {
	p := it.obj.Policies
	switch {
	case it.live == nil || it.ours: // deleted or relabelled meanwhile
		it.write = writeApply
	case p.Shared && ownedByAnotherApp(it.live):
		a.decideShare(it)
	case p.TakeOver:
		it.write = writeApply
		it.entry.Reason = "taken over"
	case fromKubeVela(it.live, a.set.App):
		it.write = writeApply
		it.entry.Reason = ReasonAdopted
	default:
		app, env := ownerOf(it.live)
		it.fail(&OwnershipError{ID: it.id, OwnerApp: app, OwnerEnv: env})
	}
}

// applyObject server-side applies an item's desired object, forcing
// conflicts only with force or the take-over policy. A dry-run returns
// the server's result; a write returns nil (its answer is not read).
func (m *Manager) applyObject(ctx context.Context, it *item, dry, force bool) (*unstructured.Unstructured, error) {
	if it.body == nil {
		var err error
		if it.body, err = json.Marshal(it.desired.Object); err != nil {
			return nil, &ObjectError{ID: it.id, Op: "apply", Err: err}
		}
	}
	opts := metav1.PatchOptions{FieldManager: m.opts.FieldManager, Force: ptr(force || it.obj.Policies.TakeOver)}
	var out *unstructured.Unstructured
	op := "apply"
	err := m.retry(ctx, func() error {
		if !dry {
			return m.wire.apply(ctx, it.mapping, it.id, it.body, opts)
		}
		op, opts.DryRun = "dry-run", []string{metav1.DryRunAll}
		var err error
		out, err = m.resource(it.mapping, it.id.Namespace).Patch(ctx, it.id.Name, types.ApplyPatchType, it.body, opts)
		return err
	})
	if err != nil {
		return nil, classify(it.id, op, err)
	}
	return out, nil
}

// classify turns an API error into the typed error callers branch on.
func classify(id ID, op string, err error) error {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return &ObjectError{ID: id, Op: op, Err: err}
	}
	st := status.Status()
	var causes []string
	if st.Details != nil {
		for _, c := range st.Details.Causes {
			causes = append(causes, strings.TrimSpace(c.Field+" "+c.Message))
		}
	}
	switch {
	case apierrors.IsConflict(err) && st.Reason == metav1.StatusReasonConflict && len(causes) > 0:
		return &ConflictError{ID: id, Conflicts: causes, Err: err}
	case apierrors.IsInvalid(err) && immutable(st):
		return &ImmutableError{ID: id, Fields: immutableFields(st), Err: err}
	}
	return &ObjectError{ID: id, Op: op, Err: err}
}

// immutableMarks are how the API server says a field cannot change.
var immutableMarks = []string{"field is immutable", "may not change once set", "is immutable"}

func immutable(st metav1.Status) bool {
	text := st.Message
	if st.Details != nil {
		for _, c := range st.Details.Causes {
			text += "\n" + c.Message
		}
	}
	for _, m := range immutableMarks {
		if strings.Contains(text, m) {
			return true
		}
	}
	return false
}

func immutableFields(st metav1.Status) []string {
	var out []string
	if st.Details != nil {
		for _, c := range st.Details.Causes {
			for _, m := range immutableMarks {
				if strings.Contains(c.Message, m) && c.Field != "" {
					out = append(out, c.Field)
					break
				}
			}
		}
	}
	if len(out) == 0 {
		out = []string{"(unnamed)"}
	}
	return out
}
