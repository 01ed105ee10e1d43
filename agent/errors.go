package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/metrics"
	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/internal/panics"
	"github.com/carina-gitops/carina/source"
)

// errTerminal marks an error that the same inputs will always give: a
// render or validation error. It is reported once and not retried with
// backoff; the env is tried again when its inputs change (a new commit or
// new definitions) or on an explicit reconcile. Other errors (fetch,
// apply, API) are transient and retried with backoff. Test with
// errors.Is, as controller-runtime's reconcile.TerminalError.
var errTerminal = errors.New("terminal for these inputs")

// terminalError wraps err so that errors.Is(err, errTerminal) holds and
// its message stays err's.
type terminalError struct{ err error }

func (e terminalError) Error() string        { return e.err.Error() }
func (e terminalError) Unwrap() error        { return e.err }
func (e terminalError) Is(target error) bool { return target == errTerminal }

// terminal marks err terminal.
func terminal(err error) error {
	if err == nil {
		return nil
	}
	return terminalError{err}
}

// errUnknownApp is the error of API calls naming no app.
func errUnknownApp(app string) error {
	return fmt.Errorf("application %q: %w", app, api.ErrNotFound)
}

// maxErrorBytes bounds an error in status.
const maxErrorBytes = 4096

// leadingPos finds the position of a message: a file:line[:col] at its
// start, or else the first file:line:col after a space (render errors
// start with what failed; a host:port never has two numbers).
var leadingPos = regexp.MustCompile(`^([^\s:]+:\d+(?::\d+)?): |\s([\w./-]+:\d+:\d+): `)

// sopsPos finds the file:line of a SOPS decryption error (render.Decrypt
// names the app and env, then the file's position).
var sopsPos = regexp.MustCompile(`decryption of application \S+ \(env \S+\): ([^\s:]+:\d+): `)

// sanitize makes an error safe for status, events and logs: URLs lose
// credentials and queries, and it is bounded. The position is the first
// file:line:col the error carries.
func sanitize(err error, at time.Time) *api.ErrorStatus {
	if err == nil {
		return nil
	}
	msg := source.Redact(err.Error())
	if len(msg) > maxErrorBytes {
		msg = msg[:maxErrorBytes] + "…"
	}
	es := &api.ErrorStatus{Message: msg, Time: at}
	var list appfile.ErrorList
	if asList(err, &list) && len(list) > 0 {
		es.Position = list[0].Pos.String()
	} else if m := sopsPos.FindStringSubmatch(msg); m != nil {
		es.Position = m[1]
	} else if m := leadingPos.FindStringSubmatch(msg); m != nil {
		es.Position = m[1] + m[2]
	}
	return es
}

func asList(err error, list *appfile.ErrorList) bool { return errors.As(err, list) }

// errNoSource is the error of a source name the config does not hold.
func errNoSource(name string) error {
	return fmt.Errorf("source %s is not configured", name)
}

// errNoCluster is the error of a cluster name the config does not hold.
func errNoCluster(name string) error {
	return fmt.Errorf("cluster %q is not configured", name)
}

// notePanic logs and counts a panic that err carries (a render, apply,
// health check, drift comparison or webhook that panicked failed only
// its own call), under component unless the panic names its own.
func notePanic(log *slog.Logger, rec *metrics.Recorder, component string, err error) {
	var p *panics.Error
	if !errors.As(err, &p) {
		return
	}
	rec.Panic(component)
	log.Error("panic contained", "component", component, "error", source.Redact(p.Error()), "stack", string(p.Stack))
}
