package webhook

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/carina-gitops/carina/e2e/registry"
	"github.com/carina-gitops/carina/source"
)

const registrySecret = "registry-webhook-token-77"

func registryQueue(t *testing.T) (*Queue, chan Event) {
	t.Helper()
	got := make(chan Event, 64)
	opts := DefaultQueueOptions()
	q := NewQueue(func(_ context.Context, e Event) { got <- e }, opts)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = q.Run(ctx) }()
	return q, got
}

// A real Distribution registry announces a push; the receiver wakes the
// oci:// source of that repository.
func TestDistributionNotificationWakesSource(t *testing.T) {
	q, got := registryQueue(t)
	h, err := NewRegistryHandler(q, Options{Provider: Distribution, Secret: []byte(registrySecret)})
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan Result, 64)
	h.h.opts.OnResult = func(r Result) { results <- r }
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	reg := registry.Start(t, registry.Options{CA: registry.NewCA(t), Username: "u", Password: "p",
		NotifyURL: srv.URL, NotifyHeaders: http.Header{"Authorization": {"Bearer " + registrySecret}}})
	reg.PushFlux(t, "apps/shop", "v1", map[string]string{"app.yaml": "x"})

	want := source.RepoKey(reg.URL("apps/shop"))
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev := <-got:
			if ev.Provider != Distribution || ev.Kind != KindPush {
				t.Fatalf("event %+v", ev)
			}
			keys := ev.RepoKeys()
			if len(keys) == 1 && keys[0] == want && ev.Ref == "refs/tags/v1" {
				return
			}
		case r := <-results:
			if r.Status != http.StatusAccepted {
				t.Fatalf("registry notification answered %d %s: %v", r.Status, r.Outcome, r.Err)
			}
		case <-deadline:
			t.Fatalf("no push event for %s", want)
		}
	}
}

func TestRegistryReceiverAuth(t *testing.T) {
	body := []byte(`{"events":[{"id":"1","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"apps/shop","tag":"v2","url":"https://reg.example.com:5000/v2/apps/shop/manifests/sha256:00"},"request":{"host":"reg.example.com:5000"}}]}`)
	generic := []byte(`{"repository":"oci://reg.example.com/apps/shop","tag":"v3"}`)
	for _, tc := range []struct {
		name   string
		p      Provider
		body   []byte
		header http.Header
		want   int
	}{
		{"distribution token", Distribution, body, http.Header{"Authorization": {"Bearer " + registrySecret}}, http.StatusAccepted},
		{"distribution wrong token", Distribution, body, http.Header{"Authorization": {"Bearer nope"}}, http.StatusUnauthorized},
		{"distribution no token", Distribution, body, nil, http.StatusUnauthorized},
		{"generic signed", RegistryGeneric, generic, http.Header{"X-Signature-256": {"sha256=" + Sign([]byte(registrySecret), generic)}}, http.StatusAccepted},
		{"generic bad signature", RegistryGeneric, generic, http.Header{"X-Signature-256": {"sha256=" + Sign([]byte("other"), generic)}}, http.StatusUnauthorized},
		{"pull ignored", Distribution, bytes.Replace(body, []byte(`"push"`), []byte(`"pull"`), 1), http.Header{"Authorization": {"Bearer " + registrySecret}}, http.StatusAccepted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, got := registryQueue(t)
			h, err := NewRegistryHandler(q, Options{Provider: tc.p, Secret: []byte(registrySecret)})
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodPost, "/hooks/registry", bytes.NewReader(tc.body))
			for k, v := range tc.header {
				req.Header[k] = v
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d", rec.Code, tc.want)
			}
			if tc.want == http.StatusAccepted && tc.name != "pull ignored" {
				select {
				case ev := <-got:
					if k := ev.RepoKeys(); len(k) != 1 || k[0] != "reg.example.com/apps/shop" {
						t.Errorf("repo keys %v", k)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("no event queued")
				}
			}
		})
	}
	if _, err := NewRegistryHandler(nil, Options{Provider: GitHub, Secret: []byte("x")}); err == nil {
		t.Error("a forge provider was accepted as a registry")
	}
}

func FuzzParseRegistry(f *testing.F) {
	f.Add([]byte(`{"events":[{"action":"push","target":{"repository":"a/b","tag":"v1","mediaType":"application/vnd.oci.image.manifest.v1+json"},"request":{"host":"r:5000"}}]}`), true)
	f.Add([]byte(`{"repository":"oci://r/a","tag":"v1","digest":"sha256:00"}`), false)
	f.Add([]byte(`{"events":[{"action":"push","target":{"repository":"","url":"::"}}]}`), true)
	f.Fuzz(func(t *testing.T, body []byte, distribution bool) {
		p := RegistryGeneric
		if distribution {
			p = Distribution
		}
		evs, err := ParseRegistry(p, body)
		if err != nil {
			return
		}
		for _, ev := range evs {
			checkParsed(t, p, ev, true, nil)
		}
	})
}
