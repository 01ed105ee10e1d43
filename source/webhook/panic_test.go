package webhook

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/carina-gitops/carina/internal/panics"
)

// panicky is a test-only provider whose parser panics on a body that says
// "panic", as a parser bug would on a hostile payload.
const panicky Provider = "test-panicky"

func init() {
	g := providers[Generic]
	providers[panicky] = provider{verify: g.verify, event: g.event, delivery: g.delivery,
		parse: func(event string, body []byte) (Event, bool, error) {
			if strings.Contains(string(body), "panic") {
				var m map[string]int
				m["boom"]++ // a runtime panic
			}
			return g.parse(event, body)
		}}
}

// TestParserPanicFailsOnlyThatRequest: a parser panic answers that
// request 500, hands the stack to OnPanic, and the receiver goes on
// accepting the next webhook.
func TestParserPanicFailsOnlyThatRequest(t *testing.T) {
	rec := &recorder{}
	var mu sync.Mutex
	var got []*panics.Error
	srv, _, results := startReceiver(t, panicky, QueueOptions{}, rec.deliver, func(o *Options) {
		o.OnPanic = func(p *panics.Error) { mu.Lock(); got = append(got, p); mu.Unlock() }
	})
	sign := func(body string) http.Header {
		h := http.Header{}
		h.Set("X-Signature-256", "sha256="+Sign(testSecret, []byte(body)))
		return h
	}
	bad := `{"repository":"https://git.example/panic.git","ref":"refs/heads/main"}`
	if code, out := post(t, srv.URL, sign(bad), []byte(bad)); code != http.StatusInternalServerError || out != string(OutcomePanic) {
		t.Fatalf("panicking parse answered %d %q, want 500 %q", code, out, OutcomePanic)
	}
	mu.Lock()
	if len(got) != 1 || !strings.Contains(string(got[0].Stack), "panic_test.go") {
		t.Errorf("OnPanic got %d panics (stack of the first: %s), want 1 with the parser's stack", len(got), stackOf(got))
	}
	mu.Unlock()
	good := `{"repository":"https://git.example/app.git","ref":"refs/heads/main"}`
	if code, out := post(t, srv.URL, sign(good), []byte(good)); code != http.StatusAccepted {
		t.Fatalf("the webhook after a panic answered %d %q, want 202", code, out)
	}
	for _, r := range *results {
		if r.Err != nil && strings.Contains(r.Err.Error(), "panic.git") {
			t.Errorf("a result's error holds the body: %v", r.Err)
		}
	}
}

func stackOf(ps []*panics.Error) string {
	if len(ps) == 0 {
		return ""
	}
	return string(ps[0].Stack)
}
