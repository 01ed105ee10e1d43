package helm

import (
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"helm.sh/helm/v3/pkg/registry"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// ociRegistry starts go-containerregistry's in-memory OCI registry over TLS
// and pushes the shop chart at each version with helm's registry client.
// It returns the registry's host:port and options whose HTTP client trusts
// the test certificate.
func ociRegistry(t *testing.T, versions ...string) (string, Options, map[string]string) {
	t.Helper()
	srv := httptest.NewTLSServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "https://")
	client, err := registry.NewClient(
		registry.ClientOptHTTPClient(srv.Client()),
		registry.ClientOptAuthorizer(auth.Client{Client: srv.Client()}),
		registry.ClientOptWriter(io.Discard),
	)
	if err != nil {
		t.Fatal(err)
	}
	digests := map[string]string{}
	for _, v := range versions {
		ref := host + "/charts/shop:" + strings.ReplaceAll(v, "+", "_")
		res, err := client.Push(packageChart(t, v), ref, registry.PushOptStrictMode(true))
		if err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
		digests[v] = res.Manifest.Digest
	}
	opts := testOptions(t)
	opts.HTTPClient = srv.Client()
	return host, opts, digests
}

func TestRenderFromOCIRegistry(t *testing.T) {
	host, opts, digests := ociRegistry(t, "0.1.0", "0.2.0", "0.2.1", "1.0.0-rc.1")
	tests := []struct {
		name  string
		props map[string]any
		want  string
	}{
		{"exact version", map[string]any{"chart": "shop", "repoURL": "oci://" + host + "/charts", "version": "0.1.0"}, "shop-0.1.0"},
		{"semver range", map[string]any{"chart": "shop", "repoURL": "oci://" + host + "/charts/", "version": "~0.2"}, "shop-0.2.1"},
		{"newest stable", map[string]any{"chart": "shop", "repoURL": "oci://" + host + "/charts"}, "shop-0.2.1"},
		{"full reference in chart", map[string]any{"chart": "oci://" + host + "/charts/shop", "version": "0.2.0"}, "shop-0.2.0"},
		{"tag in the reference", map[string]any{"chart": "oci://" + host + "/charts/shop:1.0.0-rc.1"}, "shop-1.0.0-rc.1"},
		{"digest in the reference", map[string]any{"chart": "oci://" + host + "/charts/shop@" + digests["0.2.0"]}, "shop-0.2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, chartLabel(t, tt.props, opts)); diff != "" {
				t.Errorf("chart label (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenderFromOCIRegistryRefuses(t *testing.T) {
	host, opts, _ := ociRegistry(t, "0.1.0")
	capped := opts
	capped.MaxArchiveBytes = 1024
	tests := []struct {
		name  string
		props map[string]any
		opts  Options
		wants []string
	}{
		{"archive over the size cap", map[string]any{"chart": "shop", "repoURL": "oci://" + host + "/charts", "version": "0.1.0"},
			capped, []string{"oci://" + host + "/charts/shop:0.1.0", "over the size cap of 1024"}},
		{"unknown tag", map[string]any{"chart": "shop", "repoURL": "oci://" + host + "/charts", "version": "0.9.0"},
			opts, []string{"oci://" + host + "/charts/shop:0.9.0", "not found"}},
		{"no tag in range", map[string]any{"chart": "shop", "repoURL": "oci://" + host + "/charts", "version": ">=2"},
			opts, []string{`version ">=2"`}},
		{"chart with a path under repoURL", map[string]any{"chart": "a/shop", "repoURL": "oci://" + host + "/charts"},
			opts, []string{"must be a bare chart name"}},
		{"tag and version both", map[string]any{"chart": "oci://" + host + "/charts/shop:0.1.0", "version": "0.1.0"},
			opts, []string{"already has a tag"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Render(t.Context(), os.DirFS(t.TempDir()), Request{ReleaseName: "shop", Properties: tt.props}, tt.opts)
			assertError(t, objs, err, tt.wants...)
		})
	}
}
