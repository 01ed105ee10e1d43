package webhook

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var testSecret = []byte("It's a Secret to Everybody")

// signHeaders adds the authentication header provider p sends.
func signHeaders(h http.Header, p Provider, secret, body []byte) {
	switch p {
	case GitHub:
		h.Set("X-Hub-Signature-256", "sha256="+Sign(secret, body))
	case GitLab:
		h.Set("X-Gitlab-Token", string(secret))
	case Gitea:
		if h.Get("X-Forgejo-Event") != "" {
			h.Set("X-Forgejo-Signature", Sign(secret, body))
		} else {
			h.Set("X-Gitea-Signature", Sign(secret, body))
		}
	case BitbucketCloud, BitbucketServer:
		h.Set("X-Hub-Signature", "sha256="+Sign(secret, body))
	case Generic:
		h.Set("X-Signature-256", "sha256="+Sign(secret, body))
	}
}

// recorder collects delivered events.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) deliver(_ context.Context, e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) all() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// startReceiver serves one provider's handler with a running queue.
func startReceiver(t *testing.T, p Provider, qopts QueueOptions, deliver func(context.Context, Event), mods ...func(*Options)) (*httptest.Server, *Queue, *[]Result) {
	t.Helper()
	q := NewQueue(deliver, qopts)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = q.Run(ctx); close(done) }()
	var mu sync.Mutex
	results := &[]Result{}
	opts := DefaultOptions(p)
	opts.Secret = testSecret
	for _, m := range mods {
		m(&opts)
	}
	opts.OnResult = func(r Result) { mu.Lock(); *results = append(*results, r); mu.Unlock() }
	h, err := NewHandler(q, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	return srv, q, results
}

func post(t *testing.T, url string, h http.Header, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHandlerAcceptsSignedFixtures(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			rec := &recorder{}
			srv, _, _ := startReceiver(t, fx.provider, QueueOptions{}, rec.deliver)
			body := readPayload(t, fx.name)
			h := http.Header{"Content-Type": {"application/json"}}
			for k, v := range fx.headers {
				h.Set(k, v)
			}
			signHeaders(h, fx.provider, testSecret, body)
			code, text := post(t, srv.URL, h, body)
			wantText := "accepted"
			if !fx.known {
				wantText = "ignored"
			}
			if code != http.StatusAccepted || text != wantText {
				t.Fatalf("response = %d %q, want 202 %q", code, text, wantText)
			}
			if !fx.known {
				time.Sleep(20 * time.Millisecond)
				if got := rec.all(); len(got) != 0 {
					t.Errorf("an ignored event was delivered: %+v", got)
				}
				return
			}
			waitFor(t, func() bool { return len(rec.all()) == 1 })
			ev := rec.all()[0]
			for k, v := range fx.headers {
				if k == providers[fx.provider].delivery && ev.Delivery != v {
					t.Errorf("Delivery = %q, want %q", ev.Delivery, v)
				}
			}
			ev.Delivery = ""
			checkGolden(t, fx.name, ev)
		})
	}
}

func TestHandlerRefusesBadSignatureAndWakesNothing(t *testing.T) {
	body := readPayload(t, "github-push")
	tests := map[string]func(h http.Header){
		"missing":        func(h http.Header) {},
		"wrong secret":   func(h http.Header) { signHeaders(h, GitHub, []byte("guess"), body) },
		"not hex":        func(h http.Header) { h.Set("X-Hub-Signature-256", "sha256=zz") },
		"sha1 prefix":    func(h http.Header) { h.Set("X-Hub-Signature-256", "sha1="+Sign(testSecret, body)) },
		"truncated":      func(h http.Header) { h.Set("X-Hub-Signature-256", "sha256="+Sign(testSecret, body)[:40]) },
		"other body":     func(h http.Header) { signHeaders(h, GitHub, testSecret, append(body, ' ')) },
		"legacy sha1 hd": func(h http.Header) { h.Set("X-Hub-Signature", "sha256="+Sign(testSecret, body)) },
	}
	rec := &recorder{}
	srv, q, results := startReceiver(t, GitHub, QueueOptions{}, rec.deliver)
	for name, sign := range tests {
		t.Run(name, func(t *testing.T) {
			h := http.Header{"X-Github-Event": {"push"}}
			sign(h)
			if code, _ := post(t, srv.URL, h, body); code != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401", code)
			}
		})
	}
	// Every other provider refuses a wrong secret the same way.
	for _, fx := range []fixture{fixtures[9], fixtures[15], fixtures[19], fixtures[23], fixtures[29]} {
		t.Run(string(fx.provider), func(t *testing.T) {
			srv, q, _ := startReceiver(t, fx.provider, QueueOptions{}, rec.deliver)
			body := readPayload(t, fx.name)
			h := http.Header{}
			for k, v := range fx.headers {
				h.Set(k, v)
			}
			signHeaders(h, fx.provider, []byte("not the secret"), body)
			if code, _ := post(t, srv.URL, h, body); code != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401", code)
			}
			if q.Len() != 0 {
				t.Errorf("queue holds %d keys after a bad signature", q.Len())
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	if got := rec.all(); len(got) != 0 || q.Len() != 0 {
		t.Errorf("bad signatures delivered %d events, queue %d", len(got), q.Len())
	}
	for _, r := range *results {
		if r.Outcome != OutcomeUnauthorized || r.Event != nil {
			t.Errorf("result %+v, want unauthorized without an event", r)
		}
	}
}

func TestHandlerBodyCap(t *testing.T) {
	rec := &recorder{}
	srv, _, _ := startReceiver(t, Generic, QueueOptions{}, rec.deliver)
	// A valid generic payload padded to exactly the cap is accepted.
	prefix := `{"repository":"https://git.example/o/r.git","ref":"refs/heads/main","pad":"`
	exact := []byte(prefix + strings.Repeat("x", MaxBodyBytes-len(prefix)-2) + `"}`)
	if len(exact) != MaxBodyBytes {
		t.Fatalf("test body is %d bytes", len(exact))
	}
	h := http.Header{}
	signHeaders(h, Generic, testSecret, exact)
	if code, text := post(t, srv.URL, h, exact); code != http.StatusAccepted {
		t.Errorf("body of exactly 3 MiB: %d %s, want 202", code, text)
	}
	over := append(append([]byte{}, exact...), ' ')
	h = http.Header{}
	signHeaders(h, Generic, testSecret, over)
	if code, _ := post(t, srv.URL, h, over); code != http.StatusRequestEntityTooLarge {
		t.Errorf("body of 3 MiB + 1 with Content-Length: %d, want 413", code)
	}
	// Without a Content-Length (chunked), the cap applies while reading.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, io.MultiReader(bytes.NewReader(over)))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked body of 3 MiB + 1: %d, want 413", resp.StatusCode)
	}
	if n := len(rec.all()); n > 1 {
		t.Errorf("%d events delivered, want only the one within the cap", n)
	}
}

func TestHandlerStatuses(t *testing.T) {
	srv, _, _ := startReceiver(t, GitHub, QueueOptions{}, (&recorder{}).deliver)
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", resp.StatusCode)
	}
	for name, tc := range map[string]struct {
		event string
		body  string
		want  int
	}{
		"unknown event":     {"star", `{"action":"created"}`, http.StatusAccepted},
		"malformed payload": {"push", `{"ref": 42}`, http.StatusBadRequest},
		"not json":          {"push", `ref=main`, http.StatusBadRequest},
	} {
		h := http.Header{"X-Github-Event": {tc.event}}
		signHeaders(h, GitHub, testSecret, []byte(tc.body))
		if code, _ := post(t, srv.URL, h, []byte(tc.body)); code != tc.want {
			t.Errorf("%s: %d, want %d", name, code, tc.want)
		}
	}
}

func TestHandlerQueueFull(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	started := make(chan struct{})
	srv, _, _ := startReceiver(t, Generic, QueueOptions{Size: 2, Workers: 1}, func(ctx context.Context, e Event) {
		once.Do(func() { close(started) })
		select {
		case <-release:
		case <-ctx.Done():
		}
	})
	defer close(release)
	send := func(i int) (int, http.Header) {
		body := fmt.Appendf(nil, `{"repository":"https://git.example/o/repo%d.git"}`, i)
		h := http.Header{}
		signHeaders(h, Generic, testSecret, body)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, bytes.NewReader(body))
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	if code, _ := send(0); code != http.StatusAccepted {
		t.Fatalf("first: %d", code)
	}
	<-started // repo0 is being delivered and still counts
	if code, _ := send(1); code != http.StatusAccepted {
		t.Fatalf("second: %d", code)
	}
	code, h := send(2)
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Errorf("third distinct repository: %d Retry-After %q, want 503 with Retry-After", code, h.Get("Retry-After"))
	}
	if code, _ := send(1); code != http.StatusAccepted {
		t.Errorf("a repository already queued still coalesces when full: %d, want 202", code)
	}
}

func TestHandlerSlowBodyTimesOut(t *testing.T) {
	srv, _, _ := startReceiver(t, GitHub, QueueOptions{}, (&recorder{}).deliver,
		func(o *Options) { o.ReadTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nContent-Length: 1000\r\n\r\n{\"ref\":")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response to a stalled body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("stalled body: %d, want 408", resp.StatusCode)
	}
}

func TestConfigureServerTimesOutSlowHeaders(t *testing.T) {
	srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 200 * time.Millisecond}
	ConfigureServer(srv)
	type timeouts struct {
		ReadHeader, Read, Write, Idle time.Duration
		MaxHeaderBytes                int
	}
	want := timeouts{200 * time.Millisecond, 15 * time.Second, 15 * time.Second, 60 * time.Second, 64 << 10}
	got := timeouts{srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("timeouts (-want +got):\n%s", diff)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\n") // never ends the headers
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("server kept a connection with unfinished headers for %s", time.Since(start))
	}
}
