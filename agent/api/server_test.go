package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/carina-gitops/carina/source/webhook"
)

// memStatus is an in-memory Status and Controller for handler tests.
type memStatus struct {
	mu      sync.Mutex
	apps    map[string]AppStatus
	actions []string
}

func (m *memStatus) Apps() []AppSummary {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []AppSummary
	for _, a := range m.apps {
		s := AppSummary{Name: a.Name, Source: a.Source, Revision: a.Revision, Suspended: a.Suspended}
		for _, e := range a.Envs {
			s.Envs = append(s.Envs, EnvSummary{Name: e.Name, Sync: e.Sync, Health: e.Health})
		}
		out = append(out, s)
	}
	return out
}

func (m *memStatus) App(name string) (AppStatus, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.apps[name]
	return a, ok
}

func (m *memStatus) Env(app, env string) (EnvStatus, bool) {
	a, ok := m.App(app)
	if !ok {
		return EnvStatus{}, false
	}
	for _, e := range a.Envs {
		if e.Name == env {
			return e, true
		}
	}
	return EnvStatus{}, false
}

func (m *memStatus) act(verb string) func(context.Context, string) error {
	return func(_ context.Context, app string) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		a, ok := m.apps[app]
		if !ok {
			return fmt.Errorf("application %q: %w", app, ErrNotFound)
		}
		if verb == "resume" && !a.Suspended {
			return fmt.Errorf("application %q waits on nothing: %w", app, ErrConflict)
		}
		a.Suspended = verb == "suspend"
		m.apps[app] = a
		m.actions = append(m.actions, verb+" "+app)
		return nil
	}
}

type memControl struct{ m *memStatus }

func (c memControl) Reconcile(ctx context.Context, app string) error {
	return c.m.act("reconcile")(ctx, app)
}
func (c memControl) Suspend(ctx context.Context, app string) error {
	return c.m.act("suspend")(ctx, app)
}
func (c memControl) Resume(ctx context.Context, app string) error { return c.m.act("resume")(ctx, app) }

// heldSource holds a prune of revision main@sha1:1234567abc.
var heldSource = SourceStatus{Name: "apps", Revision: "main@sha1:1234567abc", Apps: 2,
	PruneHeld: &PruneHold{Revision: "main@sha1:1234567abc", Apps: []string{"blog", "shop"}, Items: []string{"blog", "shop"}, Deployments: 2, Total: 2, Message: "held"}}

func (m *memStatus) Sources() []SourceStatus { return []SourceStatus{heldSource} }

func (c memControl) ConfirmPrune(_ context.Context, source, revision string) (PruneHold, error) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	switch {
	case source != heldSource.Name:
		return PruneHold{}, fmt.Errorf("source %q: %w", source, ErrNotFound)
	case revision != "1234567":
		return PruneHold{}, fmt.Errorf("held revision is %s: %w", heldSource.Revision, ErrConflict)
	}
	c.m.actions = append(c.m.actions, "confirm "+source+" "+revision)
	return *heldSource.PruneHeld, nil
}

var shopStatus = AppStatus{
	Name: "shop", Source: "apps", Revision: "main@sha1:abc",
	Workflow: []StepStatus{{Name: "deploy-staging", Type: "deploy", Phase: StepSucceeded}},
	Envs: []EnvStatus{{
		App: "shop", Name: "staging", Revision: "main@sha1:abc", Sync: SyncSynced, Health: HealthHealthy,
		Components: []ComponentStatus{{Name: "web", Health: HealthHealthy, Objects: []ObjectStatus{{Kind: "Deployment", Namespace: "shop", Name: "web", Health: HealthHealthy}}}},
		History:    []Reconcile{{ID: "r1", Result: "success", Duration: time.Second}},
	}},
}

func newTestServer(t *testing.T, opts Options) (*httptest.Server, *memStatus) {
	t.Helper()
	m := &memStatus{apps: map[string]AppStatus{"shop": shopStatus}}
	opts.Status = m
	opts.Control = memControl{m}
	h, err := NewHandler(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, m
}

func TestClientReadsStatus(t *testing.T) {
	srv, _ := newTestServer(t, Options{Token: []byte("t0k")})
	c := &Client{BaseURL: srv.URL, Token: "t0k"}
	apps, err := c.Apps(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []AppSummary{{Name: "shop", Source: "apps", Revision: "main@sha1:abc", Envs: []EnvSummary{{Name: "staging", Sync: SyncSynced, Health: HealthHealthy}}}}
	if diff := cmp.Diff(want, apps); diff != "" {
		t.Errorf("Apps (-want +got):\n%s", diff)
	}
	app, err := c.App(t.Context(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(shopStatus, app); diff != "" {
		t.Errorf("App (-want +got):\n%s", diff)
	}
	env, err := c.Env(t.Context(), "shop", "staging")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(shopStatus.Envs[0], env); diff != "" {
		t.Errorf("Env (-want +got):\n%s", diff)
	}
	srcs, err := c.Sources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]SourceStatus{heldSource}, srcs); diff != "" {
		t.Errorf("Sources (-want +got):\n%s", diff)
	}
	_, err = c.Env(t.Context(), "shop", "prod")
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusNotFound {
		t.Errorf("missing env: err = %v, want a 404", err)
	}
}

func TestAccessRules(t *testing.T) {
	tests := []struct {
		name         string
		opts         Options
		method, path string
		token        string
		wantCode     int
		wantActions  []string
	}{
		{name: "open read", method: "GET", path: "/api/v1/apps", wantCode: 200},
		{name: "token required", opts: Options{Token: []byte("t0k")}, method: "GET", path: "/api/v1/apps", wantCode: 401},
		{name: "wrong token", opts: Options{Token: []byte("t0k")}, method: "GET", path: "/api/v1/apps/shop", token: "nope", wantCode: 401},
		{name: "read-only by default", opts: Options{Token: []byte("t0k")}, method: "POST", path: "/api/v1/apps/shop/reconcile", token: "t0k", wantCode: 403},
		{name: "write without token", opts: Options{Token: []byte("t0k"), AllowWrites: true}, method: "POST", path: "/api/v1/apps/shop/suspend", wantCode: 401},
		{name: "write", opts: Options{Token: []byte("t0k"), AllowWrites: true}, method: "POST", path: "/api/v1/apps/shop/suspend", token: "t0k", wantCode: 202, wantActions: []string{"suspend shop"}},
		{name: "write unknown app", opts: Options{Token: []byte("t0k"), AllowWrites: true}, method: "POST", path: "/api/v1/apps/blog/reconcile", token: "t0k", wantCode: 404},
		{name: "resume conflict", opts: Options{Token: []byte("t0k"), AllowWrites: true}, method: "POST", path: "/api/v1/apps/shop/resume", token: "t0k", wantCode: 409},
		{name: "sources", method: "GET", path: "/api/v1/sources", wantCode: 200},
		{name: "confirm prune", opts: Options{Token: []byte("t0k"), AllowWrites: true}, method: "POST", path: "/api/v1/sources/apps/prune/confirm?revision=1234567", token: "t0k", wantCode: 202, wantActions: []string{"confirm apps 1234567"}},
		{name: "confirm another revision", opts: Options{Token: []byte("t0k"), AllowWrites: true}, method: "POST", path: "/api/v1/sources/apps/prune/confirm?revision=7654321", token: "t0k", wantCode: 409},
		{name: "confirm without revision", opts: Options{Token: []byte("t0k"), AllowWrites: true}, method: "POST", path: "/api/v1/sources/apps/prune/confirm", token: "t0k", wantCode: 400},
		{name: "confirm unknown source", opts: Options{Token: []byte("t0k"), AllowWrites: true}, method: "POST", path: "/api/v1/sources/web/prune/confirm?revision=1234567", token: "t0k", wantCode: 404},
		{name: "confirm read-only", opts: Options{Token: []byte("t0k")}, method: "POST", path: "/api/v1/sources/apps/prune/confirm?revision=1234567", token: "t0k", wantCode: 403},
		{name: "health is open", opts: Options{Token: []byte("t0k")}, method: "GET", path: "/healthz", wantCode: 200},
		{name: "wrong method", method: "DELETE", path: "/api/v1/apps/shop", wantCode: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, m := newTestServer(t, tt.opts)
			req, _ := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+tt.path, nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.wantCode)
			}
			if diff := cmp.Diff(tt.wantActions, m.actions); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWritesNeedAToken(t *testing.T) {
	_, err := NewHandler(Options{Status: &memStatus{}, AllowWrites: true})
	if err == nil {
		t.Fatal("NewHandler allowed writes without a token")
	}
}

func TestReadyzMetricsAndHooks(t *testing.T) {
	var notReady error = errors.New("first snapshot not in")
	var mu sync.Mutex
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "carina_test_total", Help: "test"})
	reg.MustRegister(c)
	var woken []string
	q := webhook.NewQueue(func(_ context.Context, ev webhook.Event) {
		mu.Lock()
		woken = append(woken, ev.Repos...)
		mu.Unlock()
	}, webhook.DefaultQueueOptions())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go q.Run(ctx)
	secret := []byte("hook-secret")
	hook, err := webhook.NewHandler(q, webhook.Options{Provider: webhook.Generic, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := newTestServer(t, Options{
		Ready: func() error {
			mu.Lock()
			defer mu.Unlock()
			return notReady
		},
		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		Hooks:   map[string]http.Handler{"/hooks/generic": hook},
	})
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "first snapshot not in") {
		t.Errorf("readyz = %d %q, want 503 with the reason", code, body)
	}
	mu.Lock()
	notReady = nil
	mu.Unlock()
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("readyz = %d, want 200", code)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "carina_test_total 0") {
		t.Errorf("metrics = %d %q", code, body)
	}
	body := `{"repository": "https://git.example.com/acme/shop.git", "ref": "refs/heads/main", "sha": "0123456789012345678901234567890123456789"}`
	req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.URL+"/hooks/generic", strings.NewReader(body))
	req.Header.Set("X-Signature-256", "sha256="+webhook.Sign(secret, []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook = %d, want 202", resp.StatusCode)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(woken)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"https://git.example.com/acme/shop.git"}, woken); diff != "" {
		t.Errorf("woken repos (-want +got):\n%s", diff)
	}
}

func TestListenDebugOnlyOnLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "example.com:0"} {
		if ln, err := ListenDebug(t.Context(), addr); err == nil {
			ln.Close()
			t.Errorf("ListenDebug(%s) succeeded, want a refusal", addr)
		}
	}
	ln, err := ListenDebug(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: DebugHandler()}
	go srv.Serve(ln)
	defer srv.Close()
	resp, err := http.Get("http://" + ln.Addr().String() + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("pprof = %d", resp.StatusCode)
	}
}
