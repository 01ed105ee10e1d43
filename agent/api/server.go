package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/carina-gitops/carina/source/webhook"
)

// Errors the Controller returns that map to status codes.
var (
	// ErrNotFound: no such application or environment (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request does not fit the current state, for
	// example resuming an application that waits on nothing (409).
	ErrConflict = errors.New("conflict")
	// ErrNotLeader: this replica is not the leader and cannot act (503).
	ErrNotLeader = errors.New("this replica is not the leader")
)

// Status reads the agent's state. The agent implements it.
type Status interface {
	Apps() []AppSummary
	App(name string) (AppStatus, bool)
	Env(app, env string) (EnvStatus, bool)
	// Sources lists the application sources, with the prunes the
	// mass-deletion guard holds.
	Sources() []SourceStatus
}

// Controller acts on applications. The agent implements it.
type Controller interface {
	// Reconcile queues every environment of app now.
	Reconcile(ctx context.Context, app string) error
	// Suspend stops reconciling app until Resume.
	Suspend(ctx context.Context, app string) error
	// Resume lifts a suspension and resumes suspended workflow steps.
	Resume(ctx context.Context, app string) error
	// ConfirmPrune lets the prune the mass-deletion guard holds for
	// source go, when revision names the held revision, and returns it.
	ConfirmPrune(ctx context.Context, source, revision string) (PruneHold, error)
}

// Options configure the Handler.
type Options struct {
	// Status answers the GET endpoints. Required.
	Status Status
	// Control answers the POST endpoints; nil disables them.
	Control Controller
	// Token, when set, is required as "Authorization: Bearer" on /api/.
	Token []byte
	// AllowWrites enables the POST endpoints; they also need a Token.
	AllowWrites bool
	// Ready reports whether the agent is ready; nil means always.
	Ready func() error
	// Metrics serves /metrics; nil leaves it out.
	Metrics http.Handler
	// Hooks maps paths under /hooks/ to webhook receivers.
	Hooks map[string]http.Handler
}

// NewHandler returns the agent's HTTP handler: /healthz, /readyz,
// /metrics, /api/v1/... and /hooks/....
func NewHandler(opts Options) (http.Handler, error) {
	if opts.Status == nil {
		return nil, errors.New("api handler needs a status source")
	}
	if opts.AllowWrites && len(opts.Token) == 0 {
		return nil, errors.New("api writes need a bearer token")
	}
	s := &server{opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { text(w, http.StatusOK, "ok") })
	mux.HandleFunc("GET /readyz", s.readyz)
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", opts.Metrics)
	}
	mux.HandleFunc("GET /api/v1/apps", s.auth(s.listApps))
	mux.HandleFunc("GET /api/v1/apps/{app}", s.auth(s.getApp))
	mux.HandleFunc("GET /api/v1/apps/{app}/envs/{env}", s.auth(s.getEnv))
	mux.HandleFunc("POST /api/v1/apps/{app}/reconcile", s.auth(s.write(Controller.Reconcile, "reconcile queued")))
	mux.HandleFunc("POST /api/v1/apps/{app}/suspend", s.auth(s.write(Controller.Suspend, "suspended")))
	mux.HandleFunc("POST /api/v1/apps/{app}/resume", s.auth(s.write(Controller.Resume, "resumed")))
	mux.HandleFunc("GET /api/v1/sources", s.auth(s.listSources))
	mux.HandleFunc("POST /api/v1/sources/{source}/prune/confirm", s.auth(s.confirmPrune))
	for path, h := range opts.Hooks {
		if !strings.HasPrefix(path, "/hooks/") {
			return nil, fmt.Errorf("webhook path %s is not under /hooks/", path)
		}
		mux.Handle(path, h)
	}
	return mux, nil
}

type server struct{ opts Options }

func (s *server) readyz(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Ready != nil {
		if err := s.opts.Ready(); err != nil {
			text(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
			return
		}
	}
	text(w, http.StatusOK, "ok")
}

// auth requires the bearer token when one is configured.
func (s *server) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if len(s.opts.Token) > 0 {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), s.opts.Token) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="carina"`)
				writeJSON(w, http.StatusUnauthorized, ErrorBody{Error: "a valid bearer token is required"})
				return
			}
		}
		next(w, r)
	}
}

func (s *server) listApps(w http.ResponseWriter, _ *http.Request) {
	apps := s.opts.Status.Apps()
	if apps == nil {
		apps = []AppSummary{}
	}
	writeJSON(w, http.StatusOK, apps)
}

func (s *server) getApp(w http.ResponseWriter, r *http.Request) {
	app, ok := s.opts.Status.App(r.PathValue("app"))
	if !ok {
		writeJSON(w, http.StatusNotFound, ErrorBody{Error: fmt.Sprintf("application %q not found", r.PathValue("app"))})
		return
	}
	writeJSON(w, http.StatusOK, app)
}

func (s *server) getEnv(w http.ResponseWriter, r *http.Request) {
	env, ok := s.opts.Status.Env(r.PathValue("app"), r.PathValue("env"))
	if !ok {
		writeJSON(w, http.StatusNotFound, ErrorBody{Error: fmt.Sprintf("environment %q of application %q not found", r.PathValue("env"), r.PathValue("app"))})
		return
	}
	writeJSON(w, http.StatusOK, env)
}

func (s *server) listSources(w http.ResponseWriter, _ *http.Request) {
	srcs := s.opts.Status.Sources()
	if srcs == nil {
		srcs = []SourceStatus{}
	}
	writeJSON(w, http.StatusOK, srcs)
}

// confirmPrune is POST /api/v1/sources/{source}/prune/confirm?revision=SHA.
func (s *server) confirmPrune(w http.ResponseWriter, r *http.Request) {
	if !s.writable(w, r) {
		return
	}
	rev := r.URL.Query().Get("revision")
	if rev == "" {
		writeJSON(w, http.StatusBadRequest, ErrorBody{Error: "name the held revision: ?revision=SHA"})
		return
	}
	h, err := s.opts.Control.ConfirmPrune(r.Context(), r.PathValue("source"), rev)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, h)
}

// writable refuses a write when the API is read-only, and drains the
// request's body.
func (s *server) writable(w http.ResponseWriter, r *http.Request) bool {
	if !s.opts.AllowWrites || s.opts.Control == nil {
		writeJSON(w, http.StatusForbidden, ErrorBody{Error: "the API is read-only (set server.api.allowWrites)"})
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 4096))
	return true
}

// write wraps a Controller method as a POST endpoint.
func (s *server) write(act func(Controller, context.Context, string) error, done string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.writable(w, r) {
			return
		}
		app := r.PathValue("app")
		if err := act(s.opts.Control, r.Context(), app); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusAccepted, Accepted{App: app, Message: done})
	}
}

// writeError answers a Controller's error with its status code.
func writeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeJSON(w, http.StatusNotFound, ErrorBody{Error: err.Error()})
	case errors.Is(err, ErrConflict):
		writeJSON(w, http.StatusConflict, ErrorBody{Error: err.Error()})
	case errors.Is(err, ErrNotLeader):
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, ErrorBody{Error: err.Error()})
	default:
		writeJSON(w, http.StatusInternalServerError, ErrorBody{Error: err.Error()})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func text(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}

// DebugHandler serves pprof under /debug/pprof/.
func DebugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// ListenDebug listens on addr for pprof, refusing any address that is not
// loopback.
func ListenDebug(ctx context.Context, addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("debug address %s: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("debug address %s is not a loopback address", addr)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("debug address %s resolved to %s, which is not loopback", addr, tcp.IP)
	}
	return ln, nil
}

// ConfigureServer sets the webhook receivers' timeouts on srv where unset
// (the same server carries them), with 30 s rather than 15 s to write an
// API answer.
func ConfigureServer(srv *http.Server) {
	if srv.WriteTimeout == 0 {
		srv.WriteTimeout = 30 * time.Second
	}
	webhook.ConfigureServer(srv)
}
