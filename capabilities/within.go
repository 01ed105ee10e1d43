package capabilities

import (
	"context"
	"fmt"
)

// within runs f in its own goroutine and returns its result, or ctx's
// error as soon as ctx ends. CUE evaluation (and a template's compilation,
// which evaluates what needs no parameter) cannot be interrupted: on ctx's
// end the goroutine is abandoned and runs to its own end. The render
// worker-process pool will bound that by killing the process.
func within[T any](ctx context.Context, what string, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("%s panicked: %v", what, p)}
			}
		}()
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("%s stopped: %w", what, ctx.Err())
	}
}
