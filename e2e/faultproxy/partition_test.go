package faultproxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// upstream is a fake API server that records the requests it saw and
// streams a line every 20 ms on /stream (a watch).
type upstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []string
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Method+" "+r.URL.Path)
		u.mu.Unlock()
		if r.URL.Path != "/stream" {
			io.WriteString(w, "ok")
			return
		}
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(w, "event %d\n", i); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) saw() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.seen...)
}

func startOn(t *testing.T, u *upstream) (*Proxy, *http.Client) {
	t.Helper()
	p, err := Start(&rest.Config{Host: u.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	rt, err := rest.TransportFor(p.Config())
	if err != nil {
		t.Fatal(err)
	}
	return p, &http.Client{Transport: rt}
}

// stream opens /stream and returns a channel of its lines.
func stream(t *testing.T, p *Proxy, c *http.Client) <-chan string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, p.URL()+"/stream", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1000)
	go func() {
		defer resp.Body.Close()
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	if _, ok := <-lines; !ok {
		t.Fatal("the stream ended at once")
	}
	return lines
}

// quiet drains lines for d and reports how many arrived, and whether the
// stream ended.
func quiet(lines <-chan string, d time.Duration) (n int, ended bool) {
	deadline := time.After(d)
	for {
		select {
		case _, ok := <-lines:
			if !ok {
				return n, true
			}
			n++
		case <-deadline:
			return n, false
		}
	}
}

func patch(ctx context.Context, c *http.Client, p *Proxy, name string) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPatch, p.URL()+"/api/v1/namespaces/ns/configmaps/"+name, strings.NewReader("{}"))
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestBlackholeHoldsEverythingAndReleasesOnlyWhatIsStillWaited: during a
// blackhole no request reaches the upstream and a stream stalls; a
// request whose client gives up is never forwarded, even after Heal; one
// whose client still waits is forwarded at Heal, and the stream resumes.
func TestBlackholeHoldsEverythingAndReleasesOnlyWhatIsStillWaited(t *testing.T) {
	u := newUpstream(t)
	p, c := startOn(t, u)
	lines := stream(t, p, c)
	p.Cut(Blackhole)
	quiet(lines, 100*time.Millisecond) // what was on its way before the cut
	before := len(u.saw())

	gaveUp, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if code, err := patch(gaveUp, c, p, "abandoned"); err == nil {
		t.Fatalf("a request through the blackhole was answered %d", code)
	}
	waited := make(chan int, 1)
	go func() {
		code, _ := patch(t.Context(), c, p, "late")
		waited <- code
	}()
	time.Sleep(300 * time.Millisecond)
	if n, ended := quiet(lines, 200*time.Millisecond); n != 0 || ended {
		t.Errorf("the stream went on through the blackhole: %d lines, ended %v", n, ended)
	}
	if got := u.saw()[before:]; len(got) != 0 {
		t.Errorf("the upstream saw %v during the blackhole", got)
	}
	select {
	case code := <-waited:
		t.Fatalf("a request through the blackhole was answered %d", code)
	default:
	}

	p.Heal()
	if code := <-waited; code != http.StatusOK {
		t.Errorf("the request still waited for at the heal was answered %d, want 200", code)
	}
	if n, _ := quiet(lines, 200*time.Millisecond); n == 0 {
		t.Error("the stream did not resume after the heal")
	}
	for _, s := range u.saw()[before:] {
		if strings.HasSuffix(s, "/abandoned") {
			t.Errorf("the request whose client gave up reached the upstream after the heal: %s", s)
		}
	}
	rep := p.Partitions()
	if len(rep.Held) != 2 || len(rep.Abandoned) != 1 || len(rep.Released) != 1 || !strings.HasSuffix(rep.Released[0].Path, "/late") {
		t.Errorf("report %+v, want 2 held, the abandoned one abandoned and the late one released", rep)
	}
	if code, err := patch(t.Context(), c, p, "after"); err != nil || code != http.StatusOK {
		t.Errorf("a request after the heal: %d %v", code, err)
	}
}

// TestResetAllDropsOpenConnectionsAndNewRequests: a reset partition ends
// an open stream and fails every request without forwarding it, until
// Heal.
func TestResetAllDropsOpenConnectionsAndNewRequests(t *testing.T) {
	u := newUpstream(t)
	p, c := startOn(t, u)
	lines := stream(t, p, c)
	p.Cut(ResetAll)
	if _, ended := quiet(lines, 2*time.Second); !ended {
		t.Error("the open stream survived the reset")
	}
	before := len(u.saw())
	for range 3 {
		if code, err := patch(t.Context(), c, p, "x"); err == nil {
			t.Errorf("a request during the reset partition was answered %d", code)
		}
	}
	if got := u.saw()[before:]; len(got) != 0 {
		t.Errorf("the upstream saw %v during the reset partition", got)
	}
	p.Heal()
	if code, err := patch(t.Context(), c, p, "x"); err != nil || code != http.StatusOK {
		t.Errorf("a request after the heal: %d %v", code, err)
	}
	if rep := p.Partitions(); rep.ConnsReset == 0 || len(rep.Reset) == 0 {
		t.Errorf("report %+v, want reset connections and requests", rep)
	}
}
