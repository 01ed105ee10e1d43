package oci

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/carina-gitops/carina/internal/egress"
	"github.com/carina-gitops/carina/source"
)

// ErrUnverified marks an artifact whose signature is missing or does not
// verify with the configured key. It is refused.
var ErrUnverified = errors.New("artifact signature verification failed")

// safeError carries sanitized text and the conditions callers branch on,
// never the original error (whose text may hold credentials).
type safeError struct {
	msg   string
	kinds []error
}

func (e *safeError) Error() string { return e.msg }

func (e *safeError) Is(target error) bool {
	for _, k := range e.kinds {
		if k == target {
			return true
		}
	}
	return false
}

// sanitize strips URL credentials and queries and the given secrets from
// err's text, and classifies it.
func sanitize(err error, secrets ...string) error {
	var le *source.LimitError
	if errors.As(err, &le) || errors.Is(err, source.ErrInvalidRef) {
		return err
	}
	msg := source.Redact(err.Error())
	for _, s := range secrets {
		if len(s) >= 3 {
			msg = strings.ReplaceAll(msg, s, "***")
		}
	}
	out := &safeError{msg: msg}
	var re *errcode.ErrorResponse
	if errors.As(err, &re) {
		switch re.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			out.kinds = append(out.kinds, source.ErrAuth)
			out.msg = "registry refused the credentials (HTTP " + http.StatusText(re.StatusCode) + "): " + msg
		case http.StatusNotFound:
			out.kinds = append(out.kinds, source.ErrNotFound)
		}
	}
	if errors.Is(err, errdef.ErrNotFound) {
		out.kinds = append(out.kinds, source.ErrNotFound)
	}
	for _, k := range []error{ErrUnverified, source.ErrNotFound, source.ErrAuth, context.Canceled, context.DeadlineExceeded, source.ErrOutsideRoot, source.ErrNotRegular, egress.ErrDenied} {
		if errors.Is(err, k) {
			out.kinds = append(out.kinds, k)
		}
	}
	return out
}
