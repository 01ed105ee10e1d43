package helm

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/registry"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// loadOCI pulls a chart from an OCI registry with helm's registry client.
// ref is host/path/name, optionally with :tag or @digest. version is an
// exact version or a semver range resolved against the repository's tags;
// empty means the newest stable tag. Access is anonymous.
//
// Helm's client runs without a context and without a size cap, so its HTTP
// client is wrapped: every request carries ctx, and no response body may
// exceed MaxArchiveBytes.
func loadOCI(ctx context.Context, ref, version string, o Options) (*chart.Chart, error) {
	hc := cappedClient(ctx, o.httpClient(), o.MaxArchiveBytes)
	copts := []registry.ClientOption{
		registry.ClientOptHTTPClient(hc),
		registry.ClientOptAuthorizer(auth.Client{Client: hc, Cache: auth.NewCache(), Credential: ociCredential(o.Credentials)}),
		registry.ClientOptWriter(io.Discard),
	}
	if c := forOCI(o.Credentials, ociHost(ref)); c != nil && c.Insecure {
		copts = append(copts, registry.ClientOptPlainHTTP())
	}
	client, err := registry.NewClient(copts...)
	if err != nil {
		return nil, scrub(fmt.Errorf("oci://%s: %w", ref, err), o.Credentials)
	}
	full, err := ociReference(client, ref, version)
	if err != nil {
		return nil, scrub(fmt.Errorf("oci://%s: %w", ref, err), o.Credentials)
	}
	res, err := client.Pull(full, registry.PullOptWithChart(true))
	if err != nil {
		return nil, scrub(fmt.Errorf("oci://%s: %w", full, err), o.Credentials)
	}
	if int64(len(res.Chart.Data)) > o.MaxArchiveBytes {
		return nil, fmt.Errorf("oci://%s: archive over the size cap of %d bytes", full, o.MaxArchiveBytes)
	}
	c, err := loadArchive(res.Chart.Data, o)
	if err != nil {
		return nil, scrub(fmt.Errorf("oci://%s: %w", full, err), o.Credentials)
	}
	return c, nil
}

// ociReference turns ref and version into a pullable reference.
func ociReference(client *registry.Client, ref, version string) (string, error) {
	last := ref[strings.LastIndex(ref, "/")+1:]
	if strings.Contains(last, "@") || strings.Contains(last, ":") {
		if version != "" {
			return "", fmt.Errorf("the reference already has a tag or digest; version %q must be empty", version)
		}
		return ref, nil
	}
	if _, err := semver.StrictNewVersion(version); err == nil {
		// Tags cannot hold '+': helm pushes them with '_'.
		return ref + ":" + strings.ReplaceAll(version, "+", "_"), nil
	}
	tags, err := client.Tags(ref)
	if err != nil {
		return "", fmt.Errorf("listing tags: %w", err)
	}
	tag, err := registry.GetTagMatchingVersionOrConstraint(tags, version)
	if err != nil {
		return "", fmt.Errorf("version %q: %w", version, err)
	}
	return ref + ":" + strings.ReplaceAll(tag, "+", "_"), nil
}

// cappedClient returns a copy of base whose requests carry ctx and whose
// response bodies stop with an error past limit bytes.
func cappedClient(ctx context.Context, base *http.Client, limit int64) *http.Client {
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c := *base
	c.Transport = &cappedTransport{base: rt, ctx: ctx, limit: limit}
	return &c
}

type cappedTransport struct {
	base  http.RoundTripper
	ctx   context.Context
	limit int64
}

func (t *cappedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req.Clone(t.ctx))
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.limit {
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %d bytes, over the size cap of %d", req.Method, req.URL.Redacted(), resp.ContentLength, t.limit)
	}
	resp.Body = &cappedBody{ReadCloser: resp.Body, left: t.limit}
	return resp, nil
}

type cappedBody struct {
	io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, fmt.Errorf("response over the size cap")
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n, fmt.Errorf("response over the size cap")
	}
	return n, err
}
