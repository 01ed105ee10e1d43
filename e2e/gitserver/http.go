package gitserver

import (
	"crypto/subtle"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// HTTPOptions configures StartHTTP.
type HTTPOptions struct {
	// Username and Password, when Username is set, make every request
	// require HTTP basic auth with exactly these credentials.
	Username, Password string
	// TLS serves HTTPS with a self-signed certificate; see CAFile.
	TLS bool
	// OnRequest, when set, sees every request before authentication. It
	// runs on the server's goroutines.
	OnRequest func(*http.Request)
}

// HTTPStats counts requests the server answered, by kind.
type HTTPStats struct {
	// InfoRefs counts ref advertisements (ls-remote, the first step of a fetch).
	InfoRefs int64
	// UploadPack counts pack negotiations (a fetch that asks for objects).
	UploadPack int64
	// Unauthorized counts requests refused with 401.
	Unauthorized int64
}

// HTTPServer serves a directory of bare repositories with git http-backend.
type HTTPServer struct {
	// URL is the base URL, without a trailing slash.
	URL string

	srv          *httptest.Server
	caFile       string
	infoRefs     atomic.Int64
	uploadPack   atomic.Int64
	unauthorized atomic.Int64
}

// StartHTTP serves repos over HTTP (or HTTPS) on a free loopback port until
// the test ends.
func StartHTTP(tb testing.TB, repos *Repos, opts HTTPOptions) *HTTPServer {
	tb.Helper()
	RequireGit(tb)
	execPath := Git(tb, repos.Dir, "--exec-path")
	backend := &cgi.Handler{
		Path:   filepath.Join(execPath, "git-http-backend"),
		Logger: log.New(io.Discard, "", 0),
		Stderr: io.Discard,
		Env: append(Env(),
			"GIT_PROJECT_ROOT="+repos.Dir,
			"GIT_HTTP_EXPORT_ALL=1",
		),
	}
	s := &HTTPServer{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if opts.OnRequest != nil {
			opts.OnRequest(r)
		}
		if opts.Username != "" && !basicAuthOK(r, opts.Username, opts.Password) {
			s.unauthorized.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/info/refs"):
			s.infoRefs.Add(1)
		case strings.HasSuffix(r.URL.Path, "/git-upload-pack"):
			s.uploadPack.Add(1)
		}
		if opts.Username != "" {
			r.Header.Set("Remote-User", opts.Username)
		}
		backend.ServeHTTP(w, r)
	})
	s.srv = httptest.NewUnstartedServer(h)
	// Clients that give up mid-handshake are part of some tests.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if opts.TLS {
		s.srv.StartTLS()
		s.caFile = filepath.Join(tb.TempDir(), "ca.pem")
		block := &pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw}
		if err := os.WriteFile(s.caFile, pem.EncodeToMemory(block), 0o600); err != nil {
			tb.Fatal(err)
		}
	} else {
		s.srv.Start()
	}
	tb.Cleanup(s.srv.Close)
	s.URL = s.srv.URL
	return s
}

func basicAuthOK(r *http.Request, user, pass string) bool {
	u, p, ok := r.BasicAuth()
	if !ok {
		return false
	}
	uok := subtle.ConstantTimeCompare([]byte(u), []byte(user))
	pok := subtle.ConstantTimeCompare([]byte(p), []byte(pass))
	return uok&pok == 1
}

// RepoURL returns the clone URL of the repository name.
func (s *HTTPServer) RepoURL(name string) string {
	return s.URL + "/" + name + ".git"
}

// CAFile returns the PEM file of the certificate that signs the HTTPS
// server, or "" for plain HTTP.
func (s *HTTPServer) CAFile() string { return s.caFile }

// Stats returns the request counters.
func (s *HTTPServer) Stats() HTTPStats {
	return HTTPStats{
		InfoRefs:     s.infoRefs.Load(),
		UploadPack:   s.uploadPack.Load(),
		Unauthorized: s.unauthorized.Load(),
	}
}
