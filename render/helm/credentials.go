package helm

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"oras.land/oras-go/v2/registry/remote/auth"
)

// Credential authenticates to one private chart repository: an HTTP(S)
// repository (basic auth or a bearer token) or an OCI registry. It is
// sent to the repository's host only: never to another host, not even
// after a redirect, and never over plain HTTP unless Insecure. The agent
// reads the values from the config's files or a Secret; they travel to a
// render worker inside Options and print as "redacted".
type Credential struct {
	// URL names the repository: "https://charts.example.com/private"
	// or "oci://registry.example.com/charts". Its scheme and host:port
	// pick the requests the credential goes with.
	URL string `json:"url"`
	// Username and Password are basic auth; Token is a bearer token (for
	// OCI, the registry's access token).
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Token    string `json:"token,omitempty"`
	// CAData is a PEM bundle trusted for this host besides the system
	// roots.
	CAData []byte `json:"caData,omitempty"`
	// Insecure allows plain HTTP to an OCI registry.
	Insecure bool `json:"insecure,omitempty"`
}

func (c Credential) String() string { return "credential(" + redactURL(c.URL) + ", redacted)" }

// LogValue prints the URL only.
func (c Credential) LogValue() slog.Value { return slog.StringValue(c.String()) }

// host returns the scheme ("https", "http" or "oci") and host:port.
func (c Credential) host() (string, string) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return "", ""
	}
	return strings.ToLower(u.Scheme), strings.ToLower(u.Host)
}

// forHTTP returns the credential of an HTTP(S) repository for a request
// URL, matched by scheme and host:port.
func forHTTP(creds []Credential, u *url.URL) *Credential {
	for i := range creds {
		s, h := creds[i].host()
		if s != "oci" && s == strings.ToLower(u.Scheme) && h == strings.ToLower(u.Host) {
			return &creds[i]
		}
	}
	return nil
}

// forOCI returns the credential of an OCI registry host:port.
func forOCI(creds []Credential, hostport string) *Credential {
	for i := range creds {
		if s, h := creds[i].host(); s == "oci" && h == strings.ToLower(hostport) {
			return &creds[i]
		}
	}
	return nil
}

// cacheSalt makes the disk cache keys of a repository differ between
// callers with different credentials, so a render without them never
// reads what one with them downloaded.
func cacheSalt(c *Credential) string {
	if c == nil {
		return ""
	}
	h := sha256.Sum256([]byte(c.Username + "\x00" + c.Password + "\x00" + c.Token))
	return "\x00" + hex.EncodeToString(h[:8])
}

// credClient wraps base: requests to a credential's host carry it, and
// hosts with CAData trust it. A redirect to another host gets nothing,
// and HTTPS is never redirected to HTTP.
func credClient(base *http.Client, creds []Credential) (*http.Client, error) {
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	t := &credTransport{base: rt, creds: creds, byHost: map[string]http.RoundTripper{}}
	for _, c := range creds {
		if len(c.CAData) == 0 {
			continue
		}
		bt, ok := rt.(*http.Transport)
		if !ok {
			return nil, errors.New("chart repository credentials with a CA need an *http.Transport")
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(c.CAData) {
			return nil, fmt.Errorf("chart repository %s: CA holds no PEM certificate", redactURL(c.URL))
		}
		tr := bt.Clone()
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if tr.TLSClientConfig != nil {
			cfg = tr.TLSClientConfig.Clone()
		}
		cfg.RootCAs = pool
		tr.TLSClientConfig = cfg
		_, h := c.host()
		t.byHost[h] = tr
	}
	out := *base
	out.Transport = t
	out.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("too many redirects")
		}
		if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
			return errors.New("refusing a redirect from HTTPS to HTTP")
		}
		return nil
	}
	return &out, nil
}

type credTransport struct {
	base   http.RoundTripper
	creds  []Credential
	byHost map[string]http.RoundTripper
}

func (t *credTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt := t.base
	if x, ok := t.byHost[strings.ToLower(req.URL.Host)]; ok {
		rt = x
	}
	if c := forHTTP(t.creds, req.URL); c != nil && req.Header.Get("Authorization") == "" {
		req = req.Clone(req.Context())
		if c.Token != "" {
			req.Header.Set("Authorization", "Bearer "+c.Token)
		} else if c.Username != "" || c.Password != "" {
			req.SetBasicAuth(c.Username, c.Password)
		}
	}
	return rt.RoundTrip(req)
}

// ociCredential answers oras for the registry hosts that have a
// credential, and for no other host.
func ociCredential(creds []Credential) auth.CredentialFunc {
	return func(_ context.Context, hostport string) (auth.Credential, error) {
		c := forOCI(creds, hostport)
		switch {
		case c == nil:
			return auth.EmptyCredential, nil
		case c.Token != "" && c.Username == "":
			return auth.Credential{AccessToken: c.Token}, nil
		case c.Token != "":
			return auth.Credential{Username: c.Username, RefreshToken: c.Token}, nil
		}
		return auth.Credential{Username: c.Username, Password: c.Password}, nil
	}
}

// scrub removes credential values from an error's text.
func scrub(err error, creds []Credential) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, c := range creds {
		for _, s := range []string{c.Password, c.Token} {
			if len(s) >= 3 && strings.Contains(msg, s) {
				msg, changed = strings.ReplaceAll(msg, s, "***"), true
			}
		}
	}
	if !changed {
		return err
	}
	return errors.New(msg)
}

// forRepo returns the credential that goes with a repository or chart
// URL, for cache keys.
func forRepo(creds []Credential, raw string) *Credential {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	return forHTTP(creds, u)
}

// ociHost returns the host:port of an OCI reference "host/path[:tag]".
func ociHost(ref string) string {
	h, _, _ := strings.Cut(strings.TrimPrefix(ref, "oci://"), "/")
	return h
}
