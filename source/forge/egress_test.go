package forge

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/carina-gitops/carina/internal/egress"
)

// TestClientRefusesWhatTheEgressPolicyDenies: a forge API on a denied
// address is never asked, and the error names the address and the rule
// and not the token; an API URL on the cloud metadata address is refused
// under the default policy. (The API here is a loopback stand-in: what is
// under test is where the client connects, not a forge's answers.)
func TestClientRefusesWhatTheEgressPolicyDenies(t *testing.T) {
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		w.Write([]byte(`[]`))
	}))
	t.Cleanup(srv.Close)
	deny, err := egress.New(egress.Rules{DenyLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	tok := tokenFile(t)
	token, _ := os.ReadFile(tok)
	tests := []struct {
		name, base string
		policy     *egress.Policy
		want       string
	}{
		{"loopback under denyLoopback", srv.URL, deny, "refusing to connect to 127.0.0.1:" + strings.TrimPrefix(srv.URL, "http://127.0.0.1:") + " (loopback, denyLoopback): denied by the egress policy"},
		{"the metadata service", "http://169.254.169.254/api/v1", nil, "refusing to connect to 169.254.169.254:80 (link-local, cloud metadata): denied by the egress policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(Options{Kind: Gitea, BaseURL: tt.base, Repo: "o/r", TokenFile: tok, Egress: tt.policy})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.ListOpenPullRequests(t.Context())
			if !errors.Is(err, egress.ErrDenied) && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("list: %v, want a refusal", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("refusal %q, want it to say %q", err, tt.want)
			}
			if tok := strings.TrimSpace(string(token)); strings.Contains(err.Error(), tok) {
				t.Errorf("refusal holds the token: %q", err)
			}
		})
	}
	if asked.Load() != 0 {
		t.Errorf("the denied API was asked %d times", asked.Load())
	}
	c, err := New(Options{Kind: Gitea, BaseURL: srv.URL, Repo: "o/r", TokenFile: tok})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListOpenPullRequests(t.Context()); err != nil || asked.Load() == 0 {
		t.Fatalf("the same API under the default policy: %v (the refusal above would prove nothing)", err)
	}
}
