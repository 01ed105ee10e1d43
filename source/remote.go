package source

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
	gitproto "github.com/go-git/go-git/v5/plumbing/transport/git"
	httptransport "github.com/go-git/go-git/v5/plumbing/transport/http"
	gogitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/carina-gitops/carina/internal/egress"
)

// maxAdvertisementBytes bounds a ref advertisement (ls-remote) over HTTP.
const maxAdvertisementBytes = 64 << 20

// advertised is what a remote (or a local repository) says it has.
type advertised struct {
	refs   map[string]plumbing.Hash
	peeled map[string]plumbing.Hash
	// head is the branch HEAD points to, "" when the server did not say.
	head     string
	headHash plumbing.Hash
	caps     *capability.List
}

func fromAdvRefs(ar *packp.AdvRefs) *advertised {
	a := &advertised{refs: ar.References, peeled: ar.Peeled, caps: ar.Capabilities}
	if ar.Head != nil {
		a.headHash = *ar.Head
	}
	for _, v := range ar.Capabilities.Get(capability.SymRef) {
		if target, ok := strings.CutPrefix(v, "HEAD:"); ok {
			a.head = target
		}
	}
	return a
}

// supports reports whether the remote advertised capability c.
func (a *advertised) supports(c capability.Capability) bool {
	return a.caps != nil && a.caps.Supports(c)
}

// session opens an upload-pack session to u with the credentials c.
func (f *Fetcher) session(ctx context.Context, u repoURL, c credentials) (transport.UploadPackSession, error) {
	ep, err := transport.NewEndpoint(u.String())
	if err != nil {
		return nil, fmt.Errorf("%w: repository URL does not parse", ErrInvalidRef)
	}
	switch u.Scheme {
	case "http", "https":
		tr, err := f.httpTransport(c.caBundle)
		if err != nil {
			return nil, err
		}
		var auth transport.AuthMethod
		switch {
		case c.token != "":
			auth = &httptransport.TokenAuth{Token: c.token}
		case c.password != "" || c.username != "":
			user := c.username
			if user == "" {
				user = "git"
			}
			auth = &httptransport.BasicAuth{Username: user, Password: c.password}
		}
		return tr.NewUploadPackSession(ep, auth)
	case "ssh":
		auth, err := sshAuth(ctx, u, c)
		if err != nil {
			return nil, err
		}
		ep.Proxy = sshProxy(f.opts.Egress)
		return gogitssh.DefaultClient.NewUploadPackSession(ep, auth)
	case "git":
		if err := checkResolved(ctx, f.opts.Egress, u.Host, u.Port); err != nil {
			return nil, err
		}
		return gitproto.DefaultClient.NewUploadPackSession(ep, nil)
	}
	return nil, fmt.Errorf("%w: scheme %q cannot be fetched remotely", ErrInvalidRef, u.Scheme)
}

// lsRemote asks the remote for its refs.
func lsRemote(ctx context.Context, sess transport.UploadPackSession, secrets []string) (*advertised, error) {
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return nil, remoteError(err, secrets)
	}
	return fromAdvRefs(ar), nil
}

// remoteError turns an error of go-git or the network into one that is
// safe to show and that matches the sentinel errors of this package.
func remoteError(err error, secrets []string) error {
	var keyErr *knownhosts.KeyError
	msg := err.Error()
	switch {
	case errors.As(err, &keyErr) || strings.Contains(msg, "knownhosts:"):
		if keyErr != nil && len(keyErr.Want) > 0 {
			return fmt.Errorf("%w: the server's host key does not match known_hosts", ErrHostKey)
		}
		return fmt.Errorf("%w: the server's host key is not in known_hosts", ErrHostKey)
	case errors.Is(err, transport.ErrAuthenticationRequired),
		errors.Is(err, transport.ErrAuthorizationFailed),
		strings.Contains(msg, "unable to authenticate"):
		return fmt.Errorf("%w: the remote refused the credentials (%s)", ErrAuth, firstLine(sanitize(err, secrets...).Error()))
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("repository %w", ErrNotFound)
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return fmt.Errorf("repository is empty: %w", ErrNotFound)
	}
	return sanitize(err, secrets...)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// httpTransport returns the go-git HTTP client for a CA bundle, building it
// once per distinct bundle.
func (f *Fetcher) httpTransport(ca []byte) (transport.Transport, error) {
	key := ""
	if len(ca) > 0 {
		sum := sha256.Sum256(ca)
		key = string(sum[:])
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.httpClients[key]; ok {
		return t, nil
	}
	t, err := gitHTTPTransport(f.opts.HTTPTransport, f.opts.Egress, ca)
	if err != nil {
		return nil, err
	}
	f.httpClients[key] = t
	return t, nil
}

// gitHTTPTransport is go-git's HTTP client over a clone of base (nil:
// http.DefaultTransport) that connects only where policy allows, trusts
// ca besides the system roots, sends no credentials after a redirect to
// another origin, and bounds responses.
func gitHTTPTransport(base *http.Transport, policy *egress.Policy, ca []byte) (transport.Transport, error) {
	tr := policy.Transport(base)
	if len(ca) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(ca) {
			return nil, errors.New("auth caFile holds no PEM certificate")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	client := &http.Client{Transport: boundedTransport{tr}, CheckRedirect: checkRedirect}
	return httptransport.NewClientWithOptions(client, &httptransport.ClientOptions{
		RedirectPolicy: httptransport.FollowInitialRedirects,
	}), nil
}

// checkRedirect allows a few redirects, never from HTTPS to HTTP, and
// drops credentials whenever a hop leaves the host of the first request.
// go-git applies the same rule; this is the second lock on the door.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("too many redirects")
	}
	first := via[0].URL
	if first.Scheme == "https" && req.URL.Scheme != "https" {
		return errors.New("redirect from https to http refused")
	}
	if !strings.EqualFold(req.URL.Host, first.Host) {
		req.Header.Del("Authorization")
		req.Header.Del("Cookie")
		req.URL.User = nil
	}
	return nil
}

// boundedTransport caps the bodies of error responses and of ref
// advertisements, which go-git reads whole into memory.
type boundedTransport struct{ rt http.RoundTripper }

func (b boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := b.rt.RoundTrip(req)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	switch {
	case resp.StatusCode >= 300:
		resp.Body = limitBody(resp.Body, 64<<10, false)
	case strings.HasSuffix(req.URL.Path, "/info/refs"):
		resp.Body = limitBody(resp.Body, maxAdvertisementBytes, true)
	}
	return resp, nil
}

type limitedBody struct {
	io.ReadCloser
	left   int64
	strict bool
}

func limitBody(rc io.ReadCloser, n int64, strict bool) io.ReadCloser {
	return &limitedBody{ReadCloser: rc, left: n, strict: strict}
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left <= 0 {
		if l.strict {
			return 0, errors.New("ref advertisement is too large")
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.ReadCloser.Read(p)
	l.left -= int64(n)
	return n, err
}

// sshAuthMethod is a go-git SSH auth method with strict host key checking
// and a dial timeout taken from the context.
type sshAuthMethod struct {
	user     string
	signer   ssh.Signer
	callback ssh.HostKeyCallback
	algos    []string
	timeout  time.Duration
}

func (a *sshAuthMethod) Name() string   { return "ssh-public-keys" }
func (a *sshAuthMethod) String() string { return "ssh-public-keys user=" + a.user }

func (a *sshAuthMethod) ClientConfig() (*ssh.ClientConfig, error) {
	return &ssh.ClientConfig{
		User:              a.user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(a.signer)},
		HostKeyCallback:   a.callback,
		HostKeyAlgorithms: a.algos,
		Timeout:           a.timeout,
	}, nil
}

func sshAuth(ctx context.Context, u repoURL, c credentials) (*sshAuthMethod, error) {
	if len(c.sshKey) == 0 {
		return nil, fmt.Errorf("%w: ssh needs auth.sshKeyFile", ErrInvalidRef)
	}
	if c.knownHosts == "" {
		return nil, fmt.Errorf("%w: ssh needs auth.knownHostsFile; host keys are always checked", ErrInvalidRef)
	}
	var signer ssh.Signer
	var err error
	if c.passphrase != "" {
		signer, err = ssh.ParsePrivateKeyWithPassphrase(c.sshKey, []byte(c.passphrase))
	} else {
		signer, err = ssh.ParsePrivateKey(c.sshKey)
	}
	if err != nil {
		return nil, errors.New("auth sshKeyFile: cannot parse the private key")
	}
	db, err := gogitssh.NewKnownHostsDb(c.knownHosts)
	if err != nil {
		return nil, fmt.Errorf("auth knownHostsFile %s cannot be read", c.knownHosts)
	}
	user := u.User
	if user == "" {
		user = c.username
	}
	if user == "" {
		user = "git"
	}
	port := u.Port
	if port == "" {
		port = "22"
	}
	a := &sshAuthMethod{
		user:     user,
		signer:   signer,
		callback: db.HostKeyCallback(),
		algos:    db.HostKeyAlgorithms(net.JoinHostPort(u.Host, port)),
		timeout:  30 * time.Second,
	}
	if d, ok := ctx.Deadline(); ok {
		a.timeout = max(time.Until(d), time.Millisecond)
	}
	return a, nil
}
