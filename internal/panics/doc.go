// Package panics turns a recovered panic into an error that carries its
// stack, so that a panic fails one work item or request instead of the
// process. Callers tell it apart with errors.Is(err, panics.ErrPanic) or
// errors.As(err, new(*panics.Error)):
//
//	func (m *Manager) Apply(ctx context.Context, ...) (cs *ChangeSet, err error) {
//		defer panics.Recover("apply", &err)
//		...
//	}
//
// Work that fans out to goroutines catches their panics with Go and
// re-raises the first one in the caller with Repanic, where Recover turns
// it into the caller's error.
package panics
