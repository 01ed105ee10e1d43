package source

import (
	"context"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing/transport"
	httptransport "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// GitAuth is what go-git needs to reach a repository with an Auth's
// credentials, for code outside this package that writes to Git (pins).
// Scrub removes the credentials from an error's text; use it on every
// error of an operation that used Method.
type GitAuth struct {
	Method   transport.AuthMethod
	CABundle []byte
	Scrub    func(error) error
}

// String keeps the credentials out of prints.
func (GitAuth) String() string { return "gitauth(redacted)" }

// GoGitAuth reads a's credentials for rawURL (https, http or ssh) and
// returns them as a go-git auth method. Errors name files, never values.
func (a Auth) GoGitAuth(ctx context.Context, rawURL string) (GitAuth, error) {
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
	out := GitAuth{CABundle: c.caBundle, Scrub: func(err error) error { return sanitize(err, c.secrets()...) }}
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
	case "ssh":
		m, err := sshAuth(ctx, u, c)
		if err != nil {
			return GitAuth{}, err
		}
		out.Method = m
	default:
		return GitAuth{}, fmt.Errorf("%w: scheme %q cannot be pushed to", ErrInvalidRef, u.Scheme)
	}
	return out, nil
}
