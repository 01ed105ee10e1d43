package egress

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// serveAllInterfaces serves h on every interface of a free port, so that
// the same server answers on 127.0.0.1 (allowed) and on 0.0.0.0 (the
// unspecified address, always refused), and counts its requests.
func serveAllInterfaces(t *testing.T) (port string, hits *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	hits = &atomic.Int32{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, "the secret")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, hits
}

// TestRedirectToADeniedAddressIsRefused: an allowed server on loopback
// redirects to a denied address. The guarded client refuses the hop at
// dial time with an error that names the address and why; the server
// behind the denied address gets no request. Without the guard the same
// redirect is followed (so the refusal is the policy's doing).
func TestRedirectToADeniedAddressIsRefused(t *testing.T) {
	port, hits := serveAllInterfaces(t)
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/unspecified":
			http.Redirect(w, r, "http://0.0.0.0:"+port+"/secret", http.StatusFound)
		case "/mapped":
			http.Redirect(w, r, "http://[::ffff:0.0.0.0]:"+port+"/secret", http.StatusFound)
		case "/metadata":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/iam/security-credentials/", http.StatusFound)
		}
	}))
	defer hostile.Close()

	unguarded := &http.Client{Transport: &http.Transport{}}
	resp, err := unguarded.Get(hostile.URL + "/unspecified")
	if err != nil {
		t.Fatalf("without the guard the redirect is not followed either (the test would prove nothing): %v", err)
	}
	resp.Body.Close()
	if hits.Load() != 1 {
		t.Fatalf("without the guard the redirect target got %d requests, want 1", hits.Load())
	}

	guarded := &http.Client{Transport: Default().Transport(nil)}
	tests := map[string]string{
		"/unspecified": "refusing to connect to 0.0.0.0:" + port + " (unspecified): denied by the egress policy",
		"/mapped":      "refusing to connect to ::ffff:0.0.0.0 at 0.0.0.0:" + port + " (unspecified): denied by the egress policy",
		"/metadata":    "refusing to connect to 169.254.169.254:80 (link-local, cloud metadata): denied by the egress policy",
	}
	for path, want := range tests {
		resp, err := guarded.Get(hostile.URL + path)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: the redirect was followed", path)
			continue
		}
		if !errors.Is(err, ErrDenied) {
			t.Errorf("%s: error %v is not ErrDenied", path, err)
		}
		var de *DeniedError
		if !errors.As(err, &de) || de.Error() != want {
			t.Errorf("%s: refusal %v, want %s", path, de, want)
		}
	}
	if hits.Load() != 1 {
		t.Errorf("the server behind the denied address got %d requests through the guard, want none", hits.Load()-1)
	}
	// The allowed hop itself still works.
	resp, err = guarded.Get("http://127.0.0.1:" + port + "/")
	if err != nil {
		t.Fatalf("the guard refused an allowed loopback server: %v", err)
	}
	resp.Body.Close()
}

// TestConfiguredDenyRefusesLoopback: with denyCIDRs 127.0.0.0/8 a
// loopback server is refused, by address and by name, and the refusal
// names the host that was dialled.
func TestConfiguredDenyRefusesLoopback(t *testing.T) {
	port, hits := serveAllInterfaces(t)
	p, err := New(Rules{DenyCIDRs: []string{"127.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: p.Transport(nil)}
	resp, err := c.Get("http://127.0.0.1:" + port + "/")
	if err == nil {
		resp.Body.Close()
		t.Fatal("a denied loopback address was connected to")
	}
	var de *DeniedError
	if !errors.As(err, &de) || de.Error() != "refusing to connect to 127.0.0.1:"+port+" (denyCIDRs 127.0.0.0/8): denied by the egress policy" {
		t.Errorf("refusal %v", err)
	}
	conn, err := p.DialContext(nil)(t.Context(), "tcp4", "localhost:"+port)
	if err == nil {
		conn.Close()
		t.Fatal("a denied host name was connected to")
	}
	if want := "refusing to connect to localhost at 127.0.0.1:" + port + " (denyCIDRs 127.0.0.0/8)"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("refusal %q, want it to begin with %q", err, want)
	}
	if hits.Load() != 0 {
		t.Errorf("the denied server got %d requests", hits.Load())
	}
	// The same dialer without the deny connects: the refusal above is the
	// rule's, not a broken server.
	conn, err = Default().DialContext(nil)(t.Context(), "tcp4", "localhost:"+port)
	if err != nil {
		t.Fatalf("the default policy refused loopback: %v", err)
	}
	conn.Close()
}

// TestDialerKeepsTheCallersControl: a dialer's own Control still runs
// after the policy's check.
func TestDialerKeepsTheCallersControl(t *testing.T) {
	port, _ := serveAllInterfaces(t)
	var called atomic.Int32
	d := Default().Dialer(&net.Dialer{Control: func(string, string, syscall.RawConn) error { called.Add(1); return nil }})
	conn, err := d.DialContext(t.Context(), "tcp4", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if called.Load() != 1 {
		t.Errorf("the caller's Control ran %d times, want 1", called.Load())
	}
	if _, err := d.DialContext(t.Context(), "tcp4", "0.0.0.0:"+port); !errors.Is(err, ErrDenied) {
		t.Errorf("dial of 0.0.0.0: %v, want a refusal", err)
	}
	if called.Load() != 1 {
		t.Error("the caller's Control ran for a refused address")
	}
}
