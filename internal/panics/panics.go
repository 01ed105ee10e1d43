package panics

import (
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
)

// ErrPanic matches every *Error.
var ErrPanic = errors.New("panic")

// Error is a recovered panic.
type Error struct {
	// Component is where it happened: "render", "apply", "drift",
	// "webhook", ...
	Component string
	// Value is what was passed to panic.
	Value any
	// Stack is the panicking goroutine's stack.
	Stack []byte
}

func (e *Error) Error() string { return fmt.Sprintf("%s panicked: %v", e.Component, e.Value) }

// Is matches ErrPanic.
func (e *Error) Is(target error) bool { return target == ErrPanic }

// Unwrap returns the panic value when it is an error.
func (e *Error) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// From makes an Error of a recovered value and the current stack. A value
// that already is an *Error (re-raised by Repanic) is returned as it is.
func From(component string, v any) *Error {
	if e, ok := v.(*Error); ok {
		return e
	}
	return &Error{Component: component, Value: v, Stack: debug.Stack()}
}

// Recover, deferred, turns a panic into *errp (joined with an error the
// function already returned). It must be called directly by defer.
func Recover(component string, errp *error) {
	if v := recover(); v != nil {
		*errp = errors.Join(*errp, From(component, v))
	}
}

// Catch runs fn and returns its panic as an *Error, or nil.
func Catch(component string, fn func()) (perr *Error) {
	defer func() {
		if v := recover(); v != nil {
			perr = From(component, v)
		}
	}()
	fn()
	return nil
}

// First keeps the first of several goroutines' panics. The zero value is
// ready; it is safe for concurrent use.
type First struct {
	mu sync.Mutex
	p  *Error
}

// Go runs fn, keeping its panic (the first one wins) instead of
// crashing the process.
func (f *First) Go(component string, fn func()) {
	if p := Catch(component, fn); p != nil {
		f.mu.Lock()
		if f.p == nil {
			f.p = p
		}
		f.mu.Unlock()
	}
}

// Repanic re-raises the kept panic, if any, in the calling goroutine
// (after the goroutines have finished), where Recover catches it with
// its original stack.
func (f *First) Repanic() {
	f.mu.Lock()
	p := f.p
	f.mu.Unlock()
	if p != nil {
		panic(p)
	}
}
