package agent

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/carina-gitops/carina/source/webhook"
)

// TestWebhookParsePanicFailsOnlyThatRequest: a parser that panics on a
// hostile payload, injected into the running agent's receiver, answers
// that request 500, logs the stack and counts it in
// carina_panics_total{component="webhook"}; the agent keeps serving,
// and the next webhook wakes the source, whose commit is applied.
func TestWebhookParsePanicFailsOnlyThatRequest(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("hookpanic")
	createNamespaces(t, cs, ns)
	app := ns + "-shop"
	repo := newGitRepo(t)
	repo.commit("shop v1", map[string]string{app + "/Appfile": simpleAppfile(app, ns, "v1")})
	r, logs := startAgentWith(t, agentConfig(t, repo.url(), "", ""), func(o *Options) {
		o.HookOptions = func(wo *webhook.Options) {
			wo.WrapParse = func(parse webhook.ParseFunc) webhook.ParseFunc {
				return func(event string, body []byte) (webhook.Event, bool, error) {
					if strings.Contains(string(body), "hostile") {
						var m map[string]int
						m["boom"]++ // a runtime panic, as a parser bug would
					}
					return parse(event, body)
				}
			}
		}
	})
	eventually(t, 30*time.Second, "v1 applied", func() (bool, string) {
		got := configMapData(t, cs, ns, app)
		return got == "v1", got
	})

	eventually(t, 30*time.Second, "ready before the panic", func() (bool, string) {
		code := probe(r.addr, "/readyz")
		return code == http.StatusOK, fmt.Sprint(code)
	})

	body := fmt.Sprintf(`{"repository": %q, "ref": "refs/heads/main", "note": "hostile"}`, r.repo)
	req, _ := http.NewRequest(http.MethodPost, r.addr+"/hooks/generic", strings.NewReader(body))
	req.Header.Set("X-Signature-256", "sha256="+webhook.Sign(r.secret, []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("the panicking webhook answered %d, want 500", resp.StatusCode)
	}
	// Readiness also follows the periodic cluster probe, which a loaded
	// machine may delay: it must be OK again at once, not stay down.
	if code := probe(r.addr, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz answered %d after the panic", code)
	}
	eventually(t, 10*time.Second, "ready after the panic", func() (bool, string) {
		code := probe(r.addr, "/readyz")
		return code == http.StatusOK, fmt.Sprint(code)
	})
	if m := r.metrics(t); !strings.Contains(m, `carina_panics_total{component="webhook"} 1`) {
		t.Errorf("carina_panics_total:\n%s", grep(m, "carina_panics_total"))
	}
	if l := logs.String(); !strings.Contains(l, "panic") || !strings.Contains(l, "goroutine") && !strings.Contains(l, ".go:") {
		t.Errorf("the log has no panic with its stack:\n%s", grep(l, "panic"))
	}

	repo.commit("shop v2", map[string]string{app + "/Appfile": simpleAppfile(app, ns, "v2")})
	r.hook(t)
	eventually(t, 20*time.Second, "v2 applied after the next webhook", func() (bool, string) {
		got := configMapData(t, cs, ns, app)
		return got == "v2", got
	})
}
