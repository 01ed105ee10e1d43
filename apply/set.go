package apply

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/carina-gitops/carina/apply/health"
	"github.com/carina-gitops/carina/apply/inventory"
)

// Labels every object Carina applies carries (render sets them). Prune
// and drift never touch an object without them.
const (
	LabelApp       = "app.carina.dev/name"
	LabelEnv       = "app.carina.dev/env"
	LabelComponent = "app.carina.dev/component"
)

// AnnotationPrune set to "disabled" on a live object keeps prune from
// deleting it; the object is then forgotten by the inventory.
const AnnotationPrune = "app.carina.dev/prune"

// ID identifies an object independent of its API version; String prints
// Kind/namespace/name.
type ID = inventory.ID

// Set is everything one (app, env) should have in one cluster.
type Set struct {
	App string
	Env string
	// Revision is the source revision (commit SHA) the set was rendered
	// from; Digest the render digest. Both are recorded in the inventory.
	Revision string
	Digest   string
	Objects  []Object
	// AllowEmpty permits an empty set, which prunes everything the app
	// applied before. Without it an empty set is an error.
	AllowEmpty bool
}

// Object is one desired object with what Carina knows about it.
type Object struct {
	// Obj is the desired object. Apply never modifies it.
	Obj *unstructured.Unstructured
	// Component is the component that produced it.
	Component string
	// Trait is the trait type whose outputs produced it; "" when the
	// component's definition did.
	Trait string
	// Workload marks the component's main object (context.output of
	// health policies); OutputName names the others (context.outputs).
	Workload   bool
	OutputName string
	// Health is the producing definition's health policy and custom
	// status. A zero value means kstatus decides.
	Health health.Policy
	// Policies change how the object is applied and pruned.
	Policies Policies
	// Withheld marks a copy whose Secret values were removed
	// (Set.WithoutSecretValues): it is never written.
	Withheld bool
}

// Policies are the per-object effects of the app's policies.
type Policies struct {
	// ApplyOnce leaves the object, or some of its fields, alone once it
	// exists.
	ApplyOnce ApplyOnce
	// ReadOnly objects are only read (for health); they must exist and
	// are never written or pruned.
	ReadOnly bool
	// Shared objects may also belong to other apps: an app that finds one
	// owned by another app only marks it as shared with itself, and the
	// last app to leave deletes it.
	Shared bool
	// TakeOver adopts an existing object that Carina's labels do not name
	// this app for, and forces field conflicts with other managers.
	TakeOver bool
	// Recreate deletes and creates the object again when a change touches
	// an immutable field (the resource-update policy's recreate option).
	Recreate bool
	// Prune says when the object may be pruned once it leaves the set,
	// and Orphan deletes it leaving its dependents (garbage-collect).
	Prune  inventory.PruneMode
	Orphan bool
	// Drift says what the drift watcher does when the live object drifts
	// from this one (the drift policy).
	Drift DriftPolicy
}

// DriftMode is what happens to a drifted object.
type DriftMode string

// Drift modes. The zero value corrects.
const (
	DriftCorrect DriftMode = "correct" // re-apply the object as Git has it
	DriftReport  DriftMode = "report"  // report the drift, change nothing
	DriftIgnore  DriftMode = "ignore"  // do not watch the object
)

// DriftPolicy is the drift policy of one object.
type DriftPolicy struct {
	// Mode is correct ("" too), report or ignore.
	Mode DriftMode
	// IgnoreFields are field paths (spec.replicas, a.b[0].c) whose live
	// value is never drift.
	IgnoreFields []string
}

// ApplyOnce is the apply-once policy for one object.
type ApplyOnce struct {
	Enabled bool
	// Paths are the fields (spec.replicas, a.b[0].c) whose live value is
	// kept once the object exists. Empty (or "*") keeps the whole object.
	Paths []string
}

// whole reports whether apply-once covers the whole object.
func (a ApplyOnce) whole() bool {
	if !a.Enabled {
		return false
	}
	for _, p := range a.Paths {
		if p == "*" {
			return true
		}
	}
	return len(a.Paths) == 0
}

// validate checks the set before anything touches the cluster: names,
// ownership labels of this app and env, no duplicates.
func (s *Set) validate() error {
	if len(s.Objects) == 0 && !s.AllowEmpty {
		return fmt.Errorf("app %s env %s: %w", s.App, s.Env, ErrEmptySet)
	}
	var errs []error
	if s.App == "" || s.Env == "" {
		errs = append(errs, errors.New("app and env must not be empty"))
	}
	seen := make(map[string]bool, len(s.Objects))
	for i, o := range s.Objects {
		if o.Obj == nil {
			errs = append(errs, fmt.Errorf("object %d is nil", i))
			continue
		}
		id := inventory.IDOf(o.Obj)
		if err := s.validateObject(id, o); err != nil {
			errs = append(errs, err)
		}
		if seen[id.Key()] {
			errs = append(errs, fmt.Errorf("%s is in the set twice", id))
		}
		seen[id.Key()] = true
	}
	if len(errs) > 0 {
		return &InvalidSetError{App: s.App, Env: s.Env, Errs: errs}
	}
	return nil
}

func (s *Set) validateObject(id ID, o Object) error {
	if o.Obj.GetAPIVersion() == "" || id.Kind == "" || id.Name == "" {
		return fmt.Errorf("%s: apiVersion, kind and name must be set", id)
	}
	if o.Obj.GetGenerateName() != "" {
		return fmt.Errorf("%s: generateName is not supported; objects need fixed names", id)
	}
	if o.Withheld && !o.Policies.ReadOnly {
		return withheldError(id)
	}
	if o.Policies.ReadOnly {
		return nil
	}
	labels := o.Obj.GetLabels()
	if labels[LabelApp] != s.App || labels[LabelEnv] != s.Env || labels[LabelComponent] == "" {
		return fmt.Errorf("%s: labels %s=%q, %s=%q, %s=%q do not name app %s env %s and a component",
			id, LabelApp, labels[LabelApp], LabelEnv, labels[LabelEnv], LabelComponent, labels[LabelComponent], s.App, s.Env)
	}
	return nil
}

// ours reports whether a live object's labels name this app and env.
func (s *Set) ours(u *unstructured.Unstructured) bool {
	l := u.GetLabels()
	return l[LabelApp] == s.App && l[LabelEnv] == s.Env
}
