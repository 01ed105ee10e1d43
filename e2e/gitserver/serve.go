package gitserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cgi"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Server is a git http-backend server for programs that are not tests
// (the demo): Serve starts it and Close stops it. Tests use StartHTTP.
type Server struct {
	// URL is the base URL, without a trailing slash.
	URL string

	srv  *http.Server
	done chan struct{}
}

// Serve serves the bare repositories of repos over plain HTTP on a free
// loopback port, read-only (fetch and clone), until Close. opts.TLS is
// not supported here.
func Serve(ctx context.Context, repos *Repos, opts HTTPOptions) (*Server, error) {
	if opts.TLS {
		return nil, errors.New("gitserver serve: TLS is only supported by StartHTTP")
	}
	if _, err := exec.LookPath("git"); err != nil {
		return nil, fmt.Errorf("gitserver serve: git binary not found; install the Debian package \"git\": %w", err)
	}
	execPath, err := RunGit(repos.Dir, nil, nil, "--exec-path")
	if err != nil {
		return nil, err
	}
	backend := &cgi.Handler{
		Path:   filepath.Join(execPath, "git-http-backend"),
		Logger: log.New(io.Discard, "", 0),
		Stderr: io.Discard,
		Env:    append(Env(), "GIT_PROJECT_ROOT="+repos.Dir, "GIT_HTTP_EXPORT_ALL=1"),
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if opts.OnRequest != nil {
			opts.OnRequest(r)
		}
		if strings.HasSuffix(r.URL.Path, "/git-receive-pack") || r.URL.Query().Get("service") == "git-receive-pack" {
			http.Error(w, "read-only", http.StatusForbidden)
			return
		}
		if opts.Username != "" && !basicAuthOK(r, opts.Username, opts.Password) {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	})
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("gitserver serve: %w", err)
	}
	s := &Server{
		URL:  "http://" + ln.Addr().String(),
		srv:  &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// RepoURL returns the clone URL of the repository name.
func (s *Server) RepoURL(name string) string { return s.URL + "/" + name + ".git" }

// Close stops the server and waits for it; requests in flight are cut.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	return err
}
