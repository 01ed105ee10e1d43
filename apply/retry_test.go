package apply

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// retryManager is a Manager with only retry options, for the pure retry
// logic (no cluster).
func retryManager(attempts int) *Manager {
	return &Manager{opts: Options{Retry: RetryOptions{Attempts: attempts, Initial: time.Millisecond, Max: 4 * time.Millisecond, MaxRetryAfter: 30 * time.Second}}}
}

func TestRetryWaitHonoursRetryAfter(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want time.Duration
	}{
		{"503 without Retry-After: the backoff", apierrors.NewServiceUnavailable("down"), 100 * time.Millisecond},
		{"429 with Retry-After 2", apierrors.NewTooManyRequests("slow down", 2), 2 * time.Second},
		{"429 with a huge Retry-After: capped", apierrors.NewTooManyRequests("slow down", 3600), 30 * time.Second},
		{"server timeout shorter than the backoff", apierrors.NewServerTimeout(schema.GroupResource{Resource: "pods"}, "get", 0), 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryWait(tt.err, 100*time.Millisecond, 30*time.Second); got != tt.want {
				t.Errorf("retryWait = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRetryClassifies(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "x", errors.New("owned by kubectl"))
	tests := []struct {
		name      string
		err       error
		wantCalls int
	}{
		{"409 conflict: never retried", conflict, 1},
		{"404: not retried", apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, "x"), 1},
		{"503: retried", apierrors.NewServiceUnavailable("down"), 4},
		{"500: retried", apierrors.NewInternalError(errors.New("etcd")), 4},
		{"connection reset: retried", syscall.ECONNRESET, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := retryManager(4).retry(t.Context(), func() error {
				calls++
				return tt.err
			})
			if calls != tt.wantCalls || !errors.Is(err, tt.err) {
				t.Errorf("calls = %d, err = %v; want %d calls and the error", calls, err, tt.wantCalls)
			}
		})
	}
}

// TestRetryStopsBeforeTheDeadline: a Retry-After longer than what is left
// of the context's deadline is not waited for.
func TestRetryStopsBeforeTheDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	calls := 0
	err := retryManager(6).retry(ctx, func() error {
		calls++
		return apierrors.NewTooManyRequests("slow down", 20)
	})
	if calls != 1 || !apierrors.IsTooManyRequests(err) || !strings.Contains(err.Error(), "would pass the deadline") {
		t.Errorf("calls = %d, err = %v; want 1 call and the 429 with a deadline note", calls, err)
	}
	if ctx.Err() != nil {
		t.Errorf("retry waited until the deadline: %v", ctx.Err())
	}
}

func TestRetrySucceedsAfterFaults(t *testing.T) {
	calls := 0
	err := retryManager(6).retry(t.Context(), func() error {
		calls++
		if calls < 3 {
			return apierrors.NewServiceUnavailable("down")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("calls = %d, err = %v; want 3, nil", calls, err)
	}
}
