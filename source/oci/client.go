package oci

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/carina-gitops/carina/source"
)

// maxRedirects bounds the redirects of one request.
const maxRedirects = 5

// repository returns an oras client for ref. Credentials go to host only:
// oras asks the credential function per host, and this one answers for
// the registry's own host and nothing else; Go's client drops the
// Authorization header on a redirect to another host, and
// CheckRedirect refuses a redirect from HTTPS to HTTP.
func (f *Fetcher) repository(host, repo string, ref Ref, cred source.HTTPCredentials) (*remote.Repository, error) {
	rp, err := remote.NewRepository(host + "/" + repo)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", source.ErrInvalidRef, err)
	}
	rp.PlainHTTP = ref.Insecure
	tr, err := f.transport(cred.CABundle)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Transport: retry.NewTransport(tr), CheckRedirect: checkRedirect}
	c := &auth.Client{Client: hc, Cache: auth.NewCache(), Header: http.Header{"User-Agent": {"carina"}}}
	if cred.Username != "" || cred.Password != "" || cred.Token != "" {
		ac := auth.Credential{Username: cred.Username, Password: cred.Password}
		if cred.Token != "" {
			// A bearer token goes as the registry's access token when the
			// user name is empty, or as a refresh token otherwise.
			ac = auth.Credential{AccessToken: cred.Token}
			if cred.Username != "" {
				ac = auth.Credential{Username: cred.Username, RefreshToken: cred.Token}
			}
		}
		c.Credential = func(_ context.Context, hostport string) (auth.Credential, error) {
			if strings.EqualFold(hostport, host) {
				return ac, nil
			}
			return auth.EmptyCredential, nil
		}
	}
	rp.Client = c
	rp.TagListPageSize = 1000
	return rp, nil
}

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return errors.New("too many redirects")
	}
	if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return errors.New("refusing a redirect from HTTPS to HTTP")
	}
	if !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
		req.Header.Del("Authorization")
	}
	return nil
}

// transport is the base transport, connecting only where the egress
// policy allows, with caBundle trusted besides the system roots.
func (f *Fetcher) transport(caBundle []byte) (*http.Transport, error) {
	tr := f.opts.Egress.Transport(f.opts.HTTPTransport)
	if len(caBundle) == 0 {
		return tr, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(caBundle) {
		return nil, fmt.Errorf("%w: auth caFile holds no PEM certificate", source.ErrInvalidRef)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if tr.TLSClientConfig != nil {
		cfg = tr.TLSClientConfig.Clone()
	}
	cfg.RootCAs = pool
	tr.TLSClientConfig = cfg
	return tr, nil
}
