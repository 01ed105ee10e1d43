package source

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/carina-gitops/carina/e2e/gitserver"
)

func TestFetchSSHWithKeyAndKnownHosts(t *testing.T) {
	repos, _, sha := seedApp(t)
	srv := gitserver.StartSSH(t, repos)
	f := newFetcher(t, nil)
	ref := Ref{URL: srv.RepoURL("app"), Branch: "main",
		Auth: Auth{SSHKeyFile: srv.ClientKeyFile, KnownHostsFile: srv.KnownHostsFile}}
	s, err := f.Fetch(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if s.Commit != sha || readFile(t, s, "README.md") != "# shop\n" {
		t.Errorf("ssh fetch got commit %s, want %s", s.Commit, sha)
	}
	// The scp-like form reaches the same server when the port is 22 only,
	// so check the ssh:// form again for the no-change path.
	if _, err := f.Fetch(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	if st := f.Stats(); st.Downloads != 1 || st.LsRemotes != 2 {
		t.Errorf("stats = %+v, want 2 ls-remotes and 1 download", st)
	}
}

func TestFetchSSHRefusesUnknownHostKey(t *testing.T) {
	repos, _, _ := seedApp(t)
	srv := gitserver.StartSSH(t, repos)
	dir := t.TempDir()
	otherKey, err := gitserver.GenerateKey(filepath.Join(dir, "other"))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"host missing from known_hosts": "[example.invalid]:22 " + otherKey + "\n",
		"host key changed":              "[" + srv.Host + "]:" + strings.TrimPrefix(srv.Addr, srv.Host+":") + " " + otherKey + "\n",
	}
	f := newFetcher(t, nil)
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			kh := filepath.Join(t.TempDir(), "known_hosts")
			if err := os.WriteFile(kh, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := f.Fetch(t.Context(), Ref{URL: srv.RepoURL("app"),
				Auth: Auth{SSHKeyFile: srv.ClientKeyFile, KnownHostsFile: kh}})
			if !errors.Is(err, ErrHostKey) {
				t.Fatalf("error = %v, want ErrHostKey", err)
			}
		})
	}
	t.Run("no known_hosts at all", func(t *testing.T) {
		_, err := f.Fetch(t.Context(), Ref{URL: srv.RepoURL("app"), Auth: Auth{SSHKeyFile: srv.ClientKeyFile}})
		if !errors.Is(err, ErrInvalidRef) || !strings.Contains(err.Error(), "knownHostsFile") {
			t.Fatalf("error = %v, want ErrInvalidRef naming knownHostsFile", err)
		}
	})
	t.Run("wrong client key", func(t *testing.T) {
		wrongKey := filepath.Join(t.TempDir(), "wrong")
		if _, err := gitserver.GenerateKey(wrongKey); err != nil {
			t.Fatal(err)
		}
		_, err := f.Fetch(t.Context(), Ref{URL: srv.RepoURL("app"),
			Auth: Auth{SSHKeyFile: wrongKey, KnownHostsFile: srv.KnownHostsFile}})
		if !errors.Is(err, ErrAuth) {
			t.Fatalf("error = %v, want ErrAuth", err)
		}
	})
}

func TestFetchHTTPSWithCustomCA(t *testing.T) {
	repos, _, sha := seedApp(t)
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{TLS: true, Username: "bob", Password: "tok"})
	f := newFetcher(t, nil)
	auth := Auth{Username: "bob", PasswordFile: writeSecret(t, "tok"), CAFile: srv.CAFile()}
	s, err := f.Fetch(t.Context(), Ref{URL: srv.RepoURL("app"), Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	if s.Commit != sha {
		t.Errorf("commit = %s, want %s", s.Commit, sha)
	}
	auth.CAFile = ""
	_, err = f.Fetch(t.Context(), Ref{URL: srv.RepoURL("app"), Auth: auth})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without the CA: error = %v, want a certificate error", err)
	}
}

func TestFetchBearerToken(t *testing.T) {
	repos, _, sha := seedApp(t)
	var mu sync.Mutex
	var seen []string
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{OnRequest: func(r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
	}})
	f := newFetcher(t, nil)
	t.Setenv("CARINA_TEST_TOKEN", "tok-123")
	s, err := f.Fetch(t.Context(), Ref{URL: srv.RepoURL("app"), Auth: Auth{BearerTokenEnv: "CARINA_TEST_TOKEN"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Commit != sha {
		t.Errorf("commit = %s, want %s", s.Commit, sha)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 || seen[0] != "Bearer tok-123" {
		t.Errorf("Authorization headers = %q, want Bearer tok-123", seen)
	}
}

// A redirect to another host must not carry the credentials along.
func TestFetchRedirectToAnotherHostDropsCredentials(t *testing.T) {
	repos, _, _ := seedApp(t)
	var mu sync.Mutex
	var leaked []string
	target := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{Username: "alice", Password: "pw-secret",
		OnRequest: func(r *http.Request) {
			if a := r.Header.Get("Authorization"); a != "" {
				mu.Lock()
				leaked = append(leaked, a)
				mu.Unlock()
			}
		}})
	tu, err := url.Parse(target.URL)
	if err != nil {
		t.Fatal(err)
	}
	// Same server, other host name: 127.0.0.1 redirects to localhost.
	otherHost := "http://localhost:" + tu.Port()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, otherHost+r.URL.RequestURI(), http.StatusFound)
	}))
	t.Cleanup(redirector.Close)
	f := newFetcher(t, nil)
	_, err = f.Fetch(t.Context(), Ref{URL: redirector.URL + "/app.git",
		Auth: Auth{Username: "alice", PasswordFile: writeSecret(t, "pw-secret")}})
	if err == nil {
		t.Fatal("fetch through a cross-host redirect succeeded; credentials must have followed it")
	}
	if strings.Contains(err.Error(), "pw-secret") {
		t.Errorf("error holds the password: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(leaked) > 0 {
		t.Errorf("the other host received Authorization headers %q", leaked)
	}
}

func TestFetchAuthFileErrorsNameOnlyTheFile(t *testing.T) {
	repos, _, _ := seedApp(t)
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{})
	f := newFetcher(t, nil)
	missing := filepath.Join(t.TempDir(), "nope")
	_, err := f.Fetch(t.Context(), Ref{URL: srv.RepoURL("app"), Auth: Auth{PasswordFile: missing}})
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("error = %v, want one naming %s", err, missing)
	}
	_, err = f.Fetch(t.Context(), Ref{URL: srv.RepoURL("app"), Auth: Auth{PasswordEnv: "CARINA_TEST_UNSET_VAR"}})
	if err == nil || !strings.Contains(err.Error(), "CARINA_TEST_UNSET_VAR") {
		t.Errorf("error = %v, want one naming the variable", err)
	}
}
