package apply

import (
	"context"
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// retry runs fn until it succeeds, fails for good, or the attempts or ctx
// run out. 429, 5xx and dropped connections are retried with doubling
// backoff.
func (m *Manager) retry(ctx context.Context, fn func() error) error {
	backoff := m.opts.Retry.Initial
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !retriable(err) || attempt >= m.opts.Retry.Attempts {
			return err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, m.opts.Retry.Max)
	}
}

func retriable(err error) bool {
	switch {
	case apierrors.IsTooManyRequests(err), apierrors.IsServerTimeout(err), apierrors.IsTimeout(err),
		apierrors.IsServiceUnavailable(err), apierrors.IsInternalError(err), apierrors.IsUnexpectedServerError(err):
		return true
	case utilnet.IsConnectionReset(err), utilnet.IsProbableEOF(err), utilnet.IsConnectionRefused(err):
		return true
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code := status.Status().Code
		return code == 502 || code == 503 || code == 504
	}
	return false
}
