package webhook

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/carina-gitops/carina/internal/panics"
)

// MaxBodyBytes is the default and recommended cap on a webhook body.
const MaxBodyBytes = 3 << 20

// Outcome is how a request was answered, for metrics and logs.
type Outcome string

// The outcomes, with their status codes.
const (
	OutcomeAccepted     Outcome = "accepted"     // 202, queued
	OutcomeCoalesced    Outcome = "coalesced"    // 202, merged into a pending event
	OutcomeIgnored      Outcome = "ignored"      // 202, nothing to do
	OutcomeUnwatched    Outcome = "unwatched"    // 202, no source watches the repository: nothing queued
	OutcomeBadRequest   Outcome = "bad_request"  // 400
	OutcomeUnauthorized Outcome = "unauthorized" // 401
	OutcomeBadMethod    Outcome = "bad_method"   // 405
	OutcomeTimeout      Outcome = "timeout"      // 408
	OutcomeTooLarge     Outcome = "too_large"    // 413
	OutcomeQueueFull    Outcome = "queue_full"   // 503
	OutcomePanic        Outcome = "panic"        // 500, a parser panicked
)

// Result describes one request; Handler reports it to Options.OnResult.
type Result struct {
	Provider Provider
	// EventName is the event header as sent ("push", "Merge Request
	// Hook", ...), "" when unread.
	EventName string
	Outcome   Outcome
	Status    int
	// Event is the parsed event, when there is one.
	Event *Event
	// Err says why a request was refused; it holds no secret or body.
	Err error
}

// Options configure a Handler.
type Options struct {
	// Provider says how requests are signed and shaped.
	Provider Provider
	// Secret is the HMAC key, or GitLab's token. Required.
	Secret []byte
	// MaxBodyBytes caps the body; larger bodies get 413.
	MaxBodyBytes int64
	// ReadTimeout bounds reading the body; slower clients get 408. It is
	// applied through http.ResponseController; ConfigureServer sets the
	// server-wide header and read timeouts.
	ReadTimeout time.Duration
	// OnResult, when set, sees every request's Result. It runs on the
	// request's goroutine.
	OnResult func(Result)
	// OnPanic, when set, gets a panic of the request's verification or
	// parsing, with its stack (the request is answered 500 and the
	// process goes on). It runs on the request's goroutine before
	// OnResult.
	OnPanic func(*panics.Error)
	// WrapParse, when set, wraps the provider's parser of a verified
	// body: a seam for fault injection in tests (a parser that panics on
	// a hostile payload), never set by the agent's configuration.
	WrapParse func(ParseFunc) ParseFunc
}

// ParseFunc parses a verified body of event into an Event; known says
// whether the event is one Carina acts on.
type ParseFunc func(event string, body []byte) (ev Event, known bool, err error)

// DefaultOptions returns a 3 MiB body cap and a 10 second read timeout
// for provider; Secret is left empty.
func DefaultOptions(p Provider) Options {
	return Options{Provider: p, MaxBodyBytes: MaxBodyBytes, ReadTimeout: 10 * time.Second}
}

// Handler is the http.Handler of one webhook receiver.
type Handler struct {
	q    *Queue
	opts Options
	prov provider
}

// NewHandler returns a receiver that queues authenticated events on q.
func NewHandler(q *Queue, opts Options) (*Handler, error) {
	prov, ok := providers[opts.Provider]
	if !ok {
		return nil, fmt.Errorf("webhook provider %q is unknown", opts.Provider)
	}
	if len(opts.Secret) == 0 {
		return nil, fmt.Errorf("webhook %s receiver needs a secret", opts.Provider)
	}
	def := DefaultOptions(opts.Provider)
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = def.MaxBodyBytes
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = def.ReadTimeout
	}
	if opts.WrapParse != nil {
		prov.parse = opts.WrapParse(prov.parse)
	}
	return &Handler{q: q, opts: opts, prov: prov}, nil
}

// ServeHTTP reads, authenticates, parses and queues one webhook.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	res := h.serveSafely(w, r)
	res.Provider = h.opts.Provider
	if res.Outcome == OutcomeQueueFull {
		w.Header().Set("Retry-After", "10")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(res.Status)
	_, _ = io.WriteString(w, string(res.Outcome)+"\n")
	if h.opts.OnResult != nil {
		h.opts.OnResult(res)
	}
}

// serveSafely is serve, with a panic turned into a 500 of this request
// alone. The Result's error names no body or secret; the stack goes to
// OnPanic.
func (h *Handler) serveSafely(w http.ResponseWriter, r *http.Request) (res Result) {
	p := panics.Catch("webhook", func() { res = h.serve(w, r) })
	if p == nil {
		return res
	}
	if h.opts.OnPanic != nil {
		h.opts.OnPanic(p)
	}
	return Result{EventName: res.EventName, Outcome: OutcomePanic, Status: http.StatusInternalServerError,
		Err: errors.New("webhook handling panicked (an internal error; the stack is logged)")}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) Result {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return Result{Outcome: OutcomeBadMethod, Status: http.StatusMethodNotAllowed}
	}
	body, res, ok := h.readBody(w, r)
	if !ok {
		return res
	}
	if err := h.prov.verify(h.opts.Secret, r.Header, body); err != nil {
		return Result{Outcome: OutcomeUnauthorized, Status: http.StatusUnauthorized, Err: err}
	}
	name := h.prov.event(r.Header)
	ev, known, err := h.prov.parse(name, body)
	switch {
	case err != nil:
		return Result{EventName: name, Outcome: OutcomeBadRequest, Status: http.StatusBadRequest, Err: err}
	case !known:
		return Result{EventName: name, Outcome: OutcomeIgnored, Status: http.StatusAccepted}
	}
	ev.Delivery = clip(r.Header.Get(h.prov.delivery), 128)
	coalesced, err := h.q.Enqueue(ev)
	res = Result{EventName: name, Outcome: OutcomeAccepted, Status: http.StatusAccepted, Event: &ev}
	switch {
	case errors.Is(err, ErrUnwatched):
		res.Outcome = OutcomeUnwatched
	case err != nil:
		res.Outcome, res.Status, res.Err = OutcomeQueueFull, http.StatusServiceUnavailable, err
	case coalesced:
		res.Outcome = OutcomeCoalesced
	}
	return res
}

// readBody reads at most MaxBodyBytes within ReadTimeout.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, Result, bool) {
	tooLarge := Result{Outcome: OutcomeTooLarge, Status: http.StatusRequestEntityTooLarge,
		Err: fmt.Errorf("body is larger than %d bytes", h.opts.MaxBodyBytes)}
	if r.ContentLength > h.opts.MaxBodyBytes {
		return nil, tooLarge, false
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(h.opts.ReadTimeout)) // unsupported writers keep the server's
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		// Do not wait for the rest of a body that was refused: the
		// server would otherwise try to drain it before answering.
		w.Header().Set("Connection", "close")
	} else {
		_ = rc.SetReadDeadline(time.Time{})
	}
	var maxErr *http.MaxBytesError
	var netErr net.Error
	switch {
	case err == nil:
		return body, Result{}, true
	case errors.As(err, &maxErr):
		return nil, tooLarge, false
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		return nil, Result{Outcome: OutcomeTimeout, Status: http.StatusRequestTimeout, Err: errors.New("body read timed out")}, false
	}
	return nil, Result{Outcome: OutcomeBadRequest, Status: http.StatusBadRequest, Err: fmt.Errorf("reading body: %w", err)}, false
}

// ConfigureServer sets the timeouts a webhook endpoint needs on srv where
// they are unset: 5s to read headers, 15s to read a request, 15s to write
// the answer, 60s idle, and 64 KiB of headers.
func ConfigureServer(srv *http.Server) {
	if srv.ReadHeaderTimeout == 0 {
		srv.ReadHeaderTimeout = 5 * time.Second
	}
	if srv.ReadTimeout == 0 {
		srv.ReadTimeout = 15 * time.Second
	}
	if srv.WriteTimeout == 0 {
		srv.WriteTimeout = 15 * time.Second
	}
	if srv.IdleTimeout == 0 {
		srv.IdleTimeout = 60 * time.Second
	}
	if srv.MaxHeaderBytes == 0 {
		srv.MaxHeaderBytes = 64 << 10
	}
}
