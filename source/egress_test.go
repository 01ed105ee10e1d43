package source

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/carina-gitops/carina/e2e/gitserver"
	"github.com/carina-gitops/carina/internal/egress"
)

func denyLoopback(t *testing.T) *egress.Policy {
	t.Helper()
	p, err := egress.New(egress.Rules{DenyCIDRs: []string{"127.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFetchRefusesWhatTheEgressPolicyDenies: with denyCIDRs 127.0.0.0/8
// a fetch from a real git http-backend and from a real sshd on loopback
// is refused before any request reaches them; the error names the
// address and the rule and holds no credential. The same fetches work
// under the default policy.
func TestFetchRefusesWhatTheEgressPolicyDenies(t *testing.T) {
	repos, _, sha := seedApp(t)
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{Username: "bot", Password: "egress-s3cret"})
	sshSrv := gitserver.StartSSH(t, repos)
	pw := writeSecret(t, "egress-s3cret")
	httpRef := Ref{URL: srv.RepoURL("app"), Branch: "main", Auth: Auth{Username: "bot", PasswordFile: pw}}
	sshRef := Ref{URL: sshSrv.RepoURL("app"), Branch: "main", Auth: Auth{SSHKeyFile: sshSrv.ClientKeyFile, KnownHostsFile: sshSrv.KnownHostsFile}}

	denied := newFetcher(t, func(o *Options) { o.Egress = denyLoopback(t) })
	for name, ref := range map[string]Ref{"http": httpRef, "ssh": sshRef} {
		_, err := denied.Fetch(t.Context(), ref)
		if !errors.Is(err, egress.ErrDenied) {
			t.Fatalf("%s fetch under denyCIDRs 127.0.0.0/8: %v, want a refusal", name, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "refusing to connect to 127.0.0.1:") || !strings.Contains(msg, "(denyCIDRs 127.0.0.0/8): denied by the egress policy") {
			t.Errorf("%s refusal %q does not name the address and the rule", name, msg)
		}
		if strings.Contains(msg, "egress-s3cret") {
			t.Errorf("%s refusal holds the password: %q", name, msg)
		}
	}
	if st := srv.Stats(); st.InfoRefs != 0 || st.Unauthorized != 0 {
		t.Errorf("the denied HTTP server was asked: %+v", st)
	}

	allowed := newFetcher(t, nil)
	for name, ref := range map[string]Ref{"http": httpRef, "ssh": sshRef} {
		s, err := allowed.Fetch(t.Context(), ref)
		if err != nil || s.Commit != sha {
			t.Fatalf("%s fetch under the default policy: %v (the refusal above would prove nothing)", name, err)
		}
	}
}

// TestFetchRefusesARedirectToTheMetadataService: a Git server on
// loopback (allowed) redirects the ref advertisement to the cloud
// metadata address; the fetch is refused at that hop.
func TestFetchRefusesARedirectToTheMetadataService(t *testing.T) {
	var asked atomic.Int32
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/"+strings.TrimPrefix(r.URL.RequestURI(), "/"), http.StatusFound)
	}))
	defer redirector.Close()
	f := newFetcher(t, nil)
	_, err := f.Fetch(t.Context(), Ref{URL: redirector.URL + "/app.git", Branch: "main"})
	if !errors.Is(err, egress.ErrDenied) {
		t.Fatalf("fetch redirected to 169.254.169.254: %v, want a refusal", err)
	}
	if want := "refusing to connect to 169.254.169.254:80 (link-local, cloud metadata): denied by the egress policy"; !strings.Contains(err.Error(), want) {
		t.Errorf("refusal %q, want it to say %q", err, want)
	}
	if asked.Load() == 0 {
		t.Error("the allowed server was never asked: the redirect was not what was refused")
	}
}

// TestCheckResolvedForGitProtocol: git:// connections, which go-git dials
// itself, are checked on every address the host resolves to.
func TestCheckResolvedForGitProtocol(t *testing.T) {
	err := checkResolved(t.Context(), denyLoopback(t), "localhost", "")
	if want := "refusing to connect to localhost at 127.0.0.1:9418 (denyCIDRs 127.0.0.0/8)"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("git://localhost under denyCIDRs 127.0.0.0/8: %v, want %q", err, want)
	}
	err = checkResolved(t.Context(), nil, "169.254.169.254", "9000")
	if want := "refusing to connect to 169.254.169.254:9000 (link-local, cloud metadata)"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("git://169.254.169.254:9000: %v, want %q", err, want)
	}
	if err := checkResolved(t.Context(), nil, "localhost", ""); err != nil {
		t.Errorf("git://localhost under the default policy: %v", err)
	}
}
