package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"

	// The htpasswd access controller and the in-memory storage driver
	// register themselves by name.
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

// Options configure a registry.
type Options struct {
	// CA signs the server certificate; nil serves plain HTTP.
	CA *CA
	// Username and Password turn on htpasswd basic auth.
	Username, Password string
	// NotifyURL receives the registry's notifications (the Distribution
	// notification format), with NotifyHeaders on every request.
	NotifyURL     string
	NotifyHeaders http.Header
	// Addr is the listen address; "" means 127.0.0.1:0.
	Addr string
}

// Registry is a running registry.
type Registry struct {
	// Host is host:port, as in an image reference.
	Host string
	// Scheme is "https", or "http" without a CA.
	Scheme string
	opts   Options
}

// Start runs a registry until the test ends.
func Start(t testing.TB, opts Options) *Registry {
	t.Helper()
	logrus.SetOutput(io.Discard)
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{"inmemory": configuration.Parameters{}, "delete": configuration.Parameters{"enabled": true}},
	}
	cfg.Log.AccessLog.Disabled = true
	cfg.HTTP.Secret = "carina-test"
	if opts.Username != "" {
		cfg.Auth = configuration.Auth{"htpasswd": configuration.Parameters{"realm": "carina-test", "path": htpasswd(t, opts.Username, opts.Password)}}
	}
	if opts.NotifyURL != "" {
		cfg.Notifications.Endpoints = []configuration.Endpoint{{
			Name: "carina", URL: opts.NotifyURL, Headers: opts.NotifyHeaders,
			Timeout: 5 * time.Second, Threshold: 5, Backoff: 200 * time.Millisecond,
		}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	app := handlers.NewApp(ctx, cfg)
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r := &Registry{Host: ln.Addr().String(), Scheme: "http", opts: opts}
	srv := &http.Server{Handler: app, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	if opts.CA != nil {
		srv.TLSConfig = opts.CA.ServerTLS(t)
		ln = tls.NewListener(ln, srv.TLSConfig)
		r.Scheme = "https"
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("registry: %v", err)
		}
	}()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		_ = app.Shutdown()
		cancel()
	})
	return r
}

// URL returns "oci://host/repo".
func (r *Registry) URL(repo string) string { return "oci://" + r.Host + "/" + repo }

// HTTPClient trusts the registry's CA.
func (r *Registry) HTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if r.opts.CA != nil {
		tr.TLSClientConfig = r.opts.CA.ClientTLS()
	}
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// htpasswd writes a bcrypt htpasswd file with one user.
func htpasswd(t testing.TB, user, pass string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(file, fmt.Appendf(nil, "%s:%s\n", user, h), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}
