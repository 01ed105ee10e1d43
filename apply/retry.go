package apply

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// retry runs fn until it succeeds, fails for good, or the attempts or ctx
// run out. 429, 5xx and dropped connections are retried with doubling
// backoff; a server's Retry-After (up to RetryOptions.MaxRetryAfter) is
// waited for when it is longer. A wait that would pass ctx's deadline is
// not started: the error comes back at once, so that the item's timeout
// bounds every retry. A 409 conflict is never retried.
func (m *Manager) retry(ctx context.Context, fn func() error) error {
	backoff := m.opts.Retry.Initial
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !retriable(err) || attempt >= m.opts.Retry.Attempts {
			return err
		}
		wait := retryWait(err, backoff, m.opts.Retry.MaxRetryAfter)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return fmt.Errorf("not retried: waiting %s would pass the deadline: %w", wait, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, m.opts.Retry.Max)
	}
}

// retryWait is the backoff, or the server's Retry-After when that is
// longer (capped at maxAfter).
func retryWait(err error, backoff, maxAfter time.Duration) time.Duration {
	s, ok := apierrors.SuggestsClientDelay(err)
	if !ok || s <= 0 {
		return backoff
	}
	after := time.Duration(s) * time.Second
	if maxAfter > 0 {
		after = min(after, maxAfter)
	}
	return max(after, backoff)
}

func retriable(err error) bool {
	switch {
	case apierrors.IsConflict(err):
		return false
	case apierrors.IsTooManyRequests(err), apierrors.IsServerTimeout(err), apierrors.IsTimeout(err),
		apierrors.IsServiceUnavailable(err), apierrors.IsInternalError(err), apierrors.IsUnexpectedServerError(err):
		return true
	case utilnet.IsConnectionReset(err), utilnet.IsProbableEOF(err), utilnet.IsConnectionRefused(err), utilnet.IsHTTP2ConnectionLost(err):
		return true
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code := status.Status().Code
		return code == 500 || code == 502 || code == 503 || code == 504
	}
	return false
}
