package source

import (
	"context"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing/transport"
	httptransport "github.com/go-git/go-git/v5/plumbing/transport/http"
	gogitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"

	"github.com/carina-gitops/carina/internal/egress"
)

// GitAuth is what go-git needs to reach a repository with an Auth's
// credentials, for code outside this package that writes to Git (pins).
// Scrub removes the credentials from an error's text; use it on every
// error of an operation that used Method.
type GitAuth struct {
	Method   transport.AuthMethod
	CABundle []byte
	Scrub    func(error) error
	// Transport opens upload-pack and receive-pack sessions to Endpoint
	// with Method. It connects only where the egress policy allows
	// (checked at dial time, redirects included), and trusts CABundle.
	// go-git's Repository.Fetch, Clone and Push pick their transport
	// from a process-wide table instead: use sessions of this one.
	Transport transport.Transport
	Endpoint  *transport.Endpoint
}

// String keeps the credentials out of prints.
func (GitAuth) String() string { return "gitauth(redacted)" }

// GoGitAuth reads a's credentials for rawURL (https, http or ssh) and
// returns them as a go-git auth method with a transport that connects
// only where policy (nil: egress.Default()) allows. Errors name files,
// never values.
func (a Auth) GoGitAuth(ctx context.Context, rawURL string, policy *egress.Policy) (GitAuth, error) {
	if err := a.validate(); err != nil {
		return GitAuth{}, err
	}
	u, err := parseRepoURL(rawURL, false)
	if err != nil {
		return GitAuth{}, err
	}
	c, err := a.load()
	if err != nil {
		return GitAuth{}, err
	}
	ep, err := transport.NewEndpoint(u.String())
	if err != nil {
		return GitAuth{}, fmt.Errorf("%w: repository URL does not parse", ErrInvalidRef)
	}
	out := GitAuth{CABundle: c.caBundle, Scrub: func(err error) error { return sanitize(err, c.secrets()...) }, Endpoint: ep}
	switch u.Scheme {
	case "http", "https":
		switch {
		case c.token != "":
			out.Method = &httptransport.TokenAuth{Token: c.token}
		case c.password != "" || c.username != "":
			user := c.username
			if user == "" {
				user = "git"
			}
			out.Method = &httptransport.BasicAuth{Username: user, Password: c.password}
		}
		if out.Transport, err = gitHTTPTransport(nil, policy, c.caBundle); err != nil {
			return GitAuth{}, err
		}
	case "ssh":
		m, err := sshAuth(ctx, u, c)
		if err != nil {
			return GitAuth{}, err
		}
		out.Method = m
		ep.Proxy = sshProxy(policy)
		out.Transport = gogitssh.DefaultClient
	default:
		return GitAuth{}, fmt.Errorf("%w: scheme %q cannot be pushed to", ErrInvalidRef, u.Scheme)
	}
	return out, nil
}
