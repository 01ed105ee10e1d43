package webhook

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/carina-gitops/carina/internal/panics"
)

// RegistryHandler is the http.Handler of one registry webhook receiver
// (Distribution or RegistryGeneric). It authenticates, parses and queues
// one Event per pushed repository and tag, under the same body cap, read
// timeout and flood coalescing as the forge receivers.
type RegistryHandler struct {
	h *Handler
}

// NewRegistryHandler returns a registry receiver; opts.Provider is
// Distribution or RegistryGeneric and opts.Secret is required.
func NewRegistryHandler(q *Queue, opts Options) (*RegistryHandler, error) {
	if opts.Provider != Distribution && opts.Provider != RegistryGeneric {
		return nil, fmt.Errorf("webhook provider %q is not a registry", opts.Provider)
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
	return &RegistryHandler{h: &Handler{q: q, opts: opts}}, nil
}

// ServeHTTP reads, authenticates, parses and queues one delivery.
func (rh *RegistryHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var res Result
	if p := panics.Catch("webhook", func() { res = rh.serve(w, r) }); p != nil {
		if rh.h.opts.OnPanic != nil {
			rh.h.opts.OnPanic(p)
		}
		res = Result{Outcome: OutcomePanic, Status: http.StatusInternalServerError,
			Err: errors.New("webhook handling panicked (an internal error; the stack is logged)")}
	}
	res.Provider = rh.h.opts.Provider
	if res.Outcome == OutcomeQueueFull {
		w.Header().Set("Retry-After", "10")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(res.Status)
	_, _ = io.WriteString(w, string(res.Outcome)+"\n")
	if rh.h.opts.OnResult != nil {
		rh.h.opts.OnResult(res)
	}
}

func (rh *RegistryHandler) serve(w http.ResponseWriter, r *http.Request) Result {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return Result{Outcome: OutcomeBadMethod, Status: http.StatusMethodNotAllowed}
	}
	body, res, ok := rh.h.readBody(w, r)
	if !ok {
		return res
	}
	p := rh.h.opts.Provider
	if err := verifyRegistry(p, rh.h.opts.Secret, r.Header, body); err != nil {
		return Result{Outcome: OutcomeUnauthorized, Status: http.StatusUnauthorized, Err: err}
	}
	evs, err := ParseRegistry(p, body)
	switch {
	case err != nil:
		return Result{EventName: "push", Outcome: OutcomeBadRequest, Status: http.StatusBadRequest, Err: err}
	case len(evs) == 0:
		return Result{EventName: "push", Outcome: OutcomeIgnored, Status: http.StatusAccepted}
	}
	res = Result{EventName: "push", Outcome: OutcomeUnwatched, Status: http.StatusAccepted, Event: &evs[0]}
	for i := range evs {
		coalesced, err := rh.h.q.Enqueue(evs[i])
		switch {
		case errors.Is(err, ErrUnwatched):
		case err != nil:
			res.Outcome, res.Status, res.Err = OutcomeQueueFull, http.StatusServiceUnavailable, err
			return res
		case !coalesced:
			res.Outcome = OutcomeAccepted
		case res.Outcome == OutcomeUnwatched:
			res.Outcome = OutcomeCoalesced
		}
	}
	return res
}
