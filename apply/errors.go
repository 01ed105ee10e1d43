package apply

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors for errors.Is. The typed errors below match them.
var (
	// ErrEmptySet: the set has no objects and does not allow that.
	ErrEmptySet = errors.New("empty set refused (set allowEmpty to prune everything)")
	// ErrInvalidSet: the set itself is wrong (labels, names,
	// duplicates, unknown kinds); nothing was written.
	ErrInvalidSet = errors.New("invalid set")
	// ErrConflict: another field manager owns a field the set sets.
	ErrConflict = errors.New("field conflict")
	// ErrImmutable: a change touches an immutable field.
	ErrImmutable = errors.New("immutable field")
	// ErrNotOwned: the object exists but Carina's labels do not name this
	// app and env.
	ErrNotOwned = errors.New("object not owned by this app")
)

// InvalidSetError lists every problem of a set.
type InvalidSetError struct {
	App, Env string
	Errs     []error
}

func (e *InvalidSetError) Error() string {
	return fmt.Sprintf("app %s env %s: invalid set: %s", e.App, e.Env, joinErrs(e.Errs))
}

// Is matches ErrInvalidSet.
func (e *InvalidSetError) Is(target error) bool { return target == ErrInvalidSet }

// Unwrap returns the problems.
func (e *InvalidSetError) Unwrap() []error { return e.Errs }

// StageError says a stage failed. Nothing of the stage was written when
// Phase is "dry-run".
type StageError struct {
	Stage string
	// Phase is "prepare", "dry-run", "apply" or "wait".
	Phase  string
	Failed int
	Total  int
	Errs   []error
}

func (e *StageError) Error() string {
	return fmt.Sprintf("stage %s: %s failed for %d of %d objects: %s", e.Stage, e.Phase, e.Failed, e.Total, joinErrs(e.Errs))
}

// Unwrap returns the objects' errors.
func (e *StageError) Unwrap() []error { return e.Errs }

// ObjectError is the failure of one operation on one object.
type ObjectError struct {
	ID ID
	// Op is "dry-run", "apply", "delete", "get" or "wait".
	Op  string
	Err error
}

func (e *ObjectError) Error() string { return fmt.Sprintf("%s %s failed: %v", e.ID, e.Op, e.Err) }

// Unwrap returns the cause.
func (e *ObjectError) Unwrap() error { return e.Err }

// ConflictError is a server-side-apply conflict with other managers.
type ConflictError struct {
	ID ID
	// Conflicts are the server's lines: which manager owns which field.
	Conflicts []string
	Err       error
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s has fields owned by another manager (use the take-over policy to force): %s", e.ID, strings.Join(e.Conflicts, "; "))
}

// Is matches ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Unwrap returns the API error.
func (e *ConflictError) Unwrap() error { return e.Err }

// ImmutableError is a change to an immutable field.
type ImmutableError struct {
	ID     ID
	Fields []string
	Err    error
}

func (e *ImmutableError) Error() string {
	return fmt.Sprintf("%s cannot change immutable field %s (the resource-update policy's recreate option deletes and recreates it): %v",
		e.ID, strings.Join(e.Fields, ", "), e.Err)
}

// Is matches ErrImmutable.
func (e *ImmutableError) Is(target error) bool { return target == ErrImmutable }

// Unwrap returns the API error.
func (e *ImmutableError) Unwrap() error { return e.Err }

// OwnershipError is an existing object that the set would adopt without
// the take-over policy.
type OwnershipError struct {
	ID ID
	// OwnerApp and OwnerEnv are the live object's labels ("" when none).
	OwnerApp, OwnerEnv string
}

func (e *OwnershipError) Error() string {
	if e.OwnerApp == "" && e.OwnerEnv == "" {
		return fmt.Sprintf("%s exists without Carina's labels; the take-over policy adopts it", e.ID)
	}
	return fmt.Sprintf("%s belongs to app %s env %s; the take-over or shared-resource policy allows this app to use it", e.ID, e.OwnerApp, e.OwnerEnv)
}

// Is matches ErrNotOwned.
func (e *OwnershipError) Is(target error) bool { return target == ErrNotOwned }

// HealthError says an object failed while waiting.
type HealthError struct {
	Failed []ObjectHealth
}

func (e *HealthError) Error() string {
	var parts []string
	for _, o := range e.Failed {
		parts = append(parts, fmt.Sprintf("%s: %s", o.ID, o.Message))
	}
	return "unhealthy: " + strings.Join(parts, "; ")
}

// joinErrs prints errors one per line after the first when there are
// several, and at most 20 of them.
func joinErrs(errs []error) string {
	const max = 20
	var parts []string
	for i, err := range errs {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more", len(errs)-max))
			break
		}
		parts = append(parts, err.Error())
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "\n  " + strings.Join(parts, "\n  ")
}
