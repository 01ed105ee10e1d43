package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/internal/panics"
)

// ApplyOptions configure one Apply.
type ApplyOptions struct {
	// Prune deletes what the previous applies of (app, env) created and
	// the set no longer has, once everything applied.
	Prune bool
	// CreateNamespaces creates the namespaces the set's objects live in
	// when the set does not define them and they do not exist (as KubeVela
	// does). They are not Carina's objects: never in the inventory, never
	// pruned.
	CreateNamespaces bool
	// Force takes over fields that another manager holds (after a
	// `kubectl edit`, say) instead of failing with a conflict: Git wins.
	// Without it only the take-over policy forces.
	Force bool
	// Progress, when set, is called after each stage (and the prune)
	// with what it did.
	Progress func(StageReport)
	// RefuseLostInventory writes nothing when (app, env) has no
	// inventory but objects of the set's kinds in the cluster already
	// carry its labels: the inventory was deleted, and applying would
	// forget what to prune. The error matches inventory.ErrLost and says
	// how to rebuild it. The agent sets it; `carina apply` does not.
	RefuseLostInventory bool
}

// DefaultApplyOptions prune and create missing namespaces.
func DefaultApplyOptions() ApplyOptions { return ApplyOptions{Prune: true, CreateNamespaces: true} }

// writeKind is what an item's write does.
type writeKind int

const (
	noWrite       writeKind = iota
	writeApply              // server-side apply
	writeRecreate           // delete, then apply
	writeShare              // mark as shared with this app
)

// item is one object on its way through an apply.
type item struct {
	obj     *Object
	id      ID
	desired *unstructured.Unstructured
	mapping *meta.RESTMapping

	live  *unstructured.Unstructured // nil when absent or unknown
	known bool                       // live was read (listed or fetched)
	ours  bool                       // live's labels name this app and env
	dry   *unstructured.Unstructured // the dry-run result
	write writeKind
	// sharer: another app owns the object; this app only shares it.
	sharer bool
	// decided is set once entry holds the outcome.
	decided bool
	entry   Entry
	body    []byte // desired as JSON, once marshalled
}

func (it *item) decide(a Action, reason string, err error) {
	it.decided = true
	it.entry = Entry{ID: it.id, Component: it.obj.Component, Action: a, Reason: reason, Err: err}
}

func (it *item) fail(err error) { it.decide(Failed, err.Error(), err) }

// applier holds the state of one Apply.
type applier struct {
	m          *Manager
	set        *Set
	opts       ApplyOptions
	km         *kindMapper
	items      []*item
	old        *inventory.Inventory
	preWritten bool // the inventory was written before the first write
	wrote      bool // an object write was attempted
	cs         *ChangeSet
}

// Apply makes the cluster match the set: staged server-side apply with a
// dry-run of each stage first, unchanged objects skipped, the inventory
// written before the first write and after the end, and (with
// opts.Prune) the objects of earlier applies that left the set deleted.
// The change set is returned also with an error.
func (m *Manager) Apply(ctx context.Context, set *Set, opts ApplyOptions) (_ *ChangeSet, err error) {
	defer panics.Recover("apply", &err)
	if err := set.validate(); err != nil {
		return nil, err
	}
	a := &applier{m: m, set: set, opts: opts, km: newKindMapper(m, set.Objects), cs: &ChangeSet{App: set.App, Env: set.Env}}
	return a.run(ctx)
}

func (a *applier) run(ctx context.Context) (*ChangeSet, error) {
	var err error
	if a.old, err = a.m.ReadInventory(ctx, a.set.App, a.set.Env); err != nil {
		return nil, err
	}
	if err := a.prepare(); err != nil {
		return nil, err
	}
	if a.old == nil && a.opts.RefuseLostInventory {
		if err := a.refuseLost(ctx); err != nil {
			return nil, err
		}
	}
	var applyErr error
	for _, st := range planStages(a.items) {
		if applyErr = a.runStage(ctx, st); applyErr != nil {
			break
		}
	}
	for _, it := range a.items {
		if !it.decided {
			it.decide(Skipped, "not applied: an earlier stage failed", nil)
		}
		a.cs.Entries = append(a.cs.Entries, it.entry)
	}
	var pruneErr error
	kept := a.notInSet()
	if applyErr == nil && a.opts.Prune {
		kept, pruneErr = a.prune(ctx, kept)
	}
	invErr := a.finalInventory(ctx, errors.Join(applyErr, pruneErr), kept)
	return a.cs, errors.Join(applyErr, pruneErr, invErr)
}

// refuseLost fails with an inventory.LostError when objects of the
// set's (mapped) kinds already carry the app's labels while it has no
// inventory: one LIST per resource, before anything is written.
func (a *applier) refuseLost(ctx context.Context) error {
	var mapped []*item
	for _, it := range a.items {
		if it.mapping != nil {
			mapped = append(mapped, it)
		}
	}
	listed, err := a.m.listOwned(ctx, a.set.App, a.set.Env, mapped)
	if err != nil {
		return fmt.Errorf("app %s env %s: no inventory, and the labelled objects cannot be listed: %w", a.set.App, a.set.Env, err)
	}
	if len(listed) == 0 {
		return nil
	}
	ids := make([]string, 0, len(listed))
	for _, u := range listed {
		ids = append(ids, inventory.IDOf(u).String())
	}
	slices.Sort(ids)
	return &inventory.LostError{Ref: "ConfigMap/" + a.m.opts.InventoryNamespace + "/" + inventory.Name(a.set.App, a.set.Env), Found: len(ids), First: ids[0]}
}

// prepare maps every object to its resource and checks its scope. Kinds
// that a CRD of the set defines are mapped after the CRDs are
// established.
func (a *applier) prepare() error {
	var errs []error
	for i := range a.set.Objects {
		o := &a.set.Objects[i]
		it := &item{obj: o, id: inventory.IDOf(o.Obj), desired: o.Obj}
		a.items = append(a.items, it)
		if a.km.deferred(o.Obj.GroupVersionKind()) {
			continue
		}
		if err := a.mapItem(it); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return &InvalidSetError{App: a.set.App, Env: a.set.Env, Errs: errs}
	}
	return nil
}

func (a *applier) mapItem(it *item) error {
	mp, err := a.km.mapping(it.desired.GroupVersionKind())
	if err != nil {
		return fmt.Errorf("%s: %w", it.id, err)
	}
	namespaced := mp.Scope.Name() == meta.RESTScopeNameNamespace
	switch {
	case namespaced && it.id.Namespace == "":
		return fmt.Errorf("%s: %s is namespaced but the object has no namespace", it.id, it.id.Kind)
	case !namespaced && it.id.Namespace != "":
		return fmt.Errorf("%s: %s is cluster-scoped but the object has namespace %q", it.id, it.id.Kind, it.id.Namespace)
	}
	it.mapping = mp
	return nil
}

// runStage dry-runs a stage, then writes it wave by wave.
func (a *applier) runStage(ctx context.Context, st stage) error {
	start := time.Now()
	items := st.items()
	rep := StageReport{Name: st.name, Objects: len(items)}
	if err := a.observe(ctx, st.name, items); err != nil {
		return err
	}
	if a.opts.CreateNamespaces {
		n, err := a.ensureNamespaces(ctx, items)
		rep.Writes += n
		if err != nil {
			return err
		}
	}
	a.decideLocally(items)
	rep.DryRuns = a.dryRunAll(ctx, items)
	if err := a.decideAfterDryRun(ctx, items); err != nil {
		return err
	}
	if err := stageFailure(st.name, "dry-run", items); err != nil {
		return err
	}
	for _, wave := range st.waves {
		n, err := a.writeWave(ctx, wave)
		rep.Writes += n
		if err != nil {
			return err
		}
		if err := stageFailure(st.name, "apply", wave); err != nil {
			return err
		}
	}
	if st.name == StageDefinitions {
		if err := a.waitEstablished(ctx, items); err != nil {
			return err
		}
	}
	rep.Duration = time.Since(start)
	a.cs.Stages = append(a.cs.Stages, rep)
	if a.opts.Progress != nil {
		a.opts.Progress(rep)
	}
	return nil
}

// stageFailure returns the StageError of the failed items, or nil.
func stageFailure(name, phase string, items []*item) error {
	var errs []error
	for _, it := range items {
		if it.decided && it.entry.Action == Failed {
			errs = append(errs, it.entry.Err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &StageError{Stage: name, Phase: phase, Failed: len(errs), Total: len(items), Errs: errs}
}

// observe maps deferred kinds and reads the live objects of the stage:
// one LIST per resource of the objects labelled for this app and env,
// and a GET of each object that a policy needs to see and the LIST did
// not return.
func (a *applier) observe(ctx context.Context, stageName string, items []*item) error {
	var errs []error
	for _, it := range items {
		if it.mapping == nil {
			if err := a.mapItem(it); err != nil {
				it.fail(err)
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return &StageError{Stage: stageName, Phase: "prepare", Failed: len(errs), Total: len(items), Errs: errs}
	}
	listed, err := a.m.listOwned(ctx, a.set.App, a.set.Env, items)
	if err != nil {
		return fmt.Errorf("app %s env %s: listing live objects: %w", a.set.App, a.set.Env, err)
	}
	var gets []*item
	for _, it := range items {
		if u := listed[it.id.Key()]; u != nil {
			it.live, it.known, it.ours = u, true, true
			continue
		}
		p := it.obj.Policies
		if p.ReadOnly || p.ApplyOnce.Enabled || p.Shared {
			gets = append(gets, it)
		}
	}
	return a.fetch(ctx, gets)
}

// fetch GETs the live objects of items in parallel.
func (a *applier) fetch(ctx context.Context, items []*item) error {
	errs := make([]error, len(items))
	a.m.parallel(ctx, len(items), func(ctx context.Context, i int) {
		it := items[i]
		it.live, errs[i] = a.m.get(ctx, it.mapping, it.id)
		it.known = errs[i] == nil
		it.ours = it.live != nil && a.set.ours(it.live)
	})
	return errors.Join(errs...)
}
