package source

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/carina-gitops/carina/internal/egress"
)

// Errors that callers branch on. Test them with errors.Is.
var (
	// ErrInvalidRef marks a reference that can never work as written: an
	// unsafe URL, two ref kinds at once, a bad semver range. Retrying does
	// not help; the configuration must change.
	ErrInvalidRef = errors.New("invalid source reference")
	// ErrAuth marks a remote that refused the credentials.
	ErrAuth = errors.New("authentication failed")
	// ErrHostKey marks an SSH server whose host key is not in known_hosts
	// or does not match it.
	ErrHostKey = errors.New("ssh host key verification failed")
	// ErrNotFound marks a repository, branch, tag or commit the remote
	// does not have.
	ErrNotFound = errors.New("not found")
	// ErrLimit matches every *LimitError.
	ErrLimit = errors.New("limit exceeded")
	// ErrOutsideRoot marks a path or symlink that leaves the snapshot root.
	ErrOutsideRoot = errors.New("path escapes the repository root")
	// ErrNotRegular marks a FIFO, device or socket in a snapshot tree.
	ErrNotRegular = errors.New("not a regular file or directory")
)

// Limit names one of the limits of a fetch.
type Limit string

// The limits of a fetch; see Limits.
const (
	LimitBytes Limit = "bytes"
	LimitFiles Limit = "files"
	LimitTime  Limit = "time"
)

// LimitError reports that a fetch crossed one of its limits. The cache of
// the repository has been removed when it is returned.
type LimitError struct {
	// Limit is the limit that was crossed.
	Limit Limit
	// Max is the configured maximum: bytes, a file count, or nanoseconds.
	Max int64
}

func (e *LimitError) Error() string {
	switch e.Limit {
	case LimitBytes:
		return fmt.Sprintf("repository exceeds the size limit of %s", formatBytes(e.Max))
	case LimitFiles:
		return fmt.Sprintf("repository exceeds the limit of %d files", e.Max)
	case LimitTime:
		return fmt.Sprintf("fetch exceeded the time limit of %s", time.Duration(e.Max))
	}
	return fmt.Sprintf("%s limit of %d exceeded", e.Limit, e.Max)
}

// Is makes errors.Is(err, ErrLimit) true for every LimitError.
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	s := strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.1f", v), "0"), ".")
	return s + " " + string("KMGTP"[exp]) + "iB"
}

// safeError carries the sanitized text of an error from outside this
// package (go-git, the network, the file system). It never wraps the
// original error, whose text may hold credentials, but still answers
// errors.Is for the conditions callers branch on.
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

// sanitize returns err with credentials, URL query strings and the given
// secret values removed from its text. Errors of this package pass through
// untouched, since they never hold secrets.
func sanitize(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	var se *safeError
	var le *LimitError
	if errors.As(err, &se) || errors.As(err, &le) || errors.Is(err, ErrInvalidRef) {
		return err
	}
	msg := Redact(err.Error())
	for _, s := range secrets {
		if len(s) >= 3 {
			msg = strings.ReplaceAll(msg, s, "***")
		}
	}
	out := &safeError{msg: msg}
	for _, k := range []error{context.Canceled, context.DeadlineExceeded, ErrAuth, ErrHostKey, ErrNotFound, ErrOutsideRoot, ErrNotRegular, egress.ErrDenied} {
		if errors.Is(err, k) {
			out.kinds = append(out.kinds, k)
		}
	}
	return out
}
