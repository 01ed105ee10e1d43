package faultproxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// TestFaultsWithAFakeUpstream checks the proxy's own behaviour against a
// fake upstream HTTP server (the API server tests use the real one, see
// apply/faults_test.go): each action happens on the matching requests,
// as often as asked, and the rest is forwarded.
func TestFaultsWithAFakeUpstream(t *testing.T) {
	var arrived atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		if r.Header.Get("Authorization") != "" {
			http.Error(w, "a client credential was forwarded", http.StatusBadRequest)
			return
		}
		io.WriteString(w, "upstream "+r.Method+" "+r.URL.Path)
	}))
	defer up.Close()
	p, err := Start(&rest.Config{Host: up.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Add(Rule{Match: Write("configmaps"), Action: TooManyRequests, RetryAfter: 3})
	p.Add(Rule{Match: Name("configmaps", "down"), Action: Unavailable, Times: 2})
	p.Add(Rule{Match: Name("configmaps", "cut"), Action: Reset})
	p.Add(Rule{Match: Name("configmaps", "lost"), Action: ResetAfterForward})
	cfg := p.Config()
	cfg.BearerToken = "client-token" // must not reach the upstream
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: rt}
	do := func(method, name string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(t.Context(), method, cfg.Host+"/api/v1/namespaces/ns/configmaps/"+name, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}
	if resp, err := do(http.MethodPatch, "x"); err != nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3" {
		t.Errorf("first write: %v %v, want 429 with Retry-After 3", resp, err)
	}
	for i := range 2 {
		if resp, err := do(http.MethodPatch, "down"); err != nil || resp.StatusCode != 503 {
			t.Errorf("write %d of down: %v %v, want 503", i, resp, err)
		}
	}
	before := arrived.Load()
	if _, err := do(http.MethodPatch, "cut"); !errors.Is(err, syscall.ECONNRESET) && !strings.Contains(fmtErr(err), "EOF") {
		t.Errorf("write of cut: %v, want a reset connection", err)
	}
	if arrived.Load() != before {
		t.Error("a request reset before forwarding reached the upstream")
	}
	if _, err := do(http.MethodPatch, "lost"); err == nil {
		t.Error("write of lost got an answer, want a reset connection")
	}
	if arrived.Load() != before+1 {
		t.Errorf("upstream saw %d requests since, want 1 (the lost write)", arrived.Load()-before)
	}
	for _, name := range []string{"down", "cut", "lost", "y"} {
		if resp, err := do(http.MethodPatch, name); err != nil || resp.StatusCode != 200 {
			t.Errorf("write of %s after its faults: %v %v, want it forwarded", name, resp, err)
		}
	}
	if got := len(p.Injected()); got != 5 {
		t.Errorf("injected %d faults, want 5: %+v", got, p.Injected())
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestHoldKeepsARequestUntilReleased: a held request is signalled, waits,
// and is forwarded on release.
func TestHoldKeepsARequestUntilReleased(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	p, err := Start(&rest.Config{Host: up.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	held, release := make(chan struct{}), make(chan struct{})
	p.Add(Rule{Match: Method(http.MethodGet, "pods"), Action: Hold, Held: held, Release: release})
	rt, err := rest.TransportFor(p.Config())
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 1)
	go func() {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, p.URL()+"/api/v1/pods", nil)
		resp, err := (&http.Client{Transport: rt}).Do(req)
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	<-held
	select {
	case c := <-got:
		t.Fatalf("held request answered %d before the release", c)
	default:
	}
	close(release)
	if c := <-got; c != 200 {
		t.Errorf("released request answered %d, want 200", c)
	}
}

// TestHoldAbandonedByItsClient: a held request whose client goes away
// before the release is signalled as abandoned and never reaches the
// upstream, even when released afterwards.
func TestHoldAbandonedByItsClient(t *testing.T) {
	var arrived atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { arrived.Add(1) }))
	defer up.Close()
	p, err := Start(&rest.Config{Host: up.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	held, release, abandoned := make(chan struct{}), make(chan struct{}), make(chan struct{})
	p.Add(Rule{Match: Write("configmaps"), Action: Hold, Held: held, Release: release, Abandoned: abandoned})
	rt, err := rest.TransportFor(p.Config())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPatch, p.URL()+"/api/v1/namespaces/ns/configmaps/x", strings.NewReader("{}"))
		resp, err := (&http.Client{Transport: rt}).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-held
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the cancelled request got an answer")
	}
	select {
	case <-abandoned:
	case <-time.After(10 * time.Second):
		t.Fatal("the abandoned hold was not signalled")
	}
	close(release)
	time.Sleep(100 * time.Millisecond)
	if n := arrived.Load(); n != 0 {
		t.Errorf("the upstream saw %d requests, want 0", n)
	}
}
