package helm

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"
	"oras.land/oras-go/v2/registry/remote/auth"
	"sigs.k8s.io/yaml"

	e2ereg "github.com/carina-gitops/carina/e2e/registry"
)

const (
	chartUser = "charts-robot"
	chartPass = "chart-repo-password-9d2f"
)

// tlsServer serves h over HTTPS on addr (127.0.0.x:0) with a
// certificate of ca.
func tlsServer(t *testing.T, ca *e2ereg.CA, addr string, h http.Handler) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.TLS = ca.ServerTLS(t)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// privateRepo is an HTTPS chart repository with basic auth whose archive
// URL redirects to a second host (127.0.0.2), which records the
// Authorization headers it receives.
type privateRepo struct {
	url      string
	mu       sync.Mutex
	leaked   []string
	archives int
}

func newPrivateRepo(t *testing.T, ca *e2ereg.CA) *privateRepo {
	t.Helper()
	r := &privateRepo{}
	data := packageChart(t, "0.1.0")
	other := tlsServer(t, ca, "127.0.0.2:0", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.archives++
		if a := req.Header.Get("Authorization"); a != "" {
			r.leaked = append(r.leaked, a)
		}
		r.mu.Unlock()
		w.Write(data)
	}))
	c, err := loader.LoadArchive(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	idx := repo.NewIndexFile()
	if err := idx.MustAdd(c.Metadata, "charts/shop-0.1.0.tgz", "", sha256Hex(data)); err != nil {
		t.Fatal(err)
	}
	index, err := yaml.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	srv := tlsServer(t, ca, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if u, p, ok := req.BasicAuth(); !ok || u != chartUser || p != chartPass {
			w.Header().Set("WWW-Authenticate", `Basic realm="charts"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch req.URL.Path {
		case "/private/index.yaml":
			w.Write(index)
		case "/private/charts/shop-0.1.0.tgz":
			http.Redirect(w, req, other.URL+"/blobs/shop-0.1.0.tgz", http.StatusFound)
		default:
			http.NotFound(w, req)
		}
	}))
	r.url = srv.URL + "/private"
	return r
}

func TestPrivateHTTPSRepository(t *testing.T) {
	ca := e2ereg.NewCA(t)
	r := newPrivateRepo(t, ca)
	props := map[string]any{"chart": "shop", "repoURL": r.url, "version": "0.1.0"}
	caData, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}

	opts := testOptions(t)
	opts.Credentials = []Credential{{URL: r.url, Username: chartUser, Password: "wrong-password-1234", CAData: caData}}
	_, err = Render(t.Context(), os.DirFS(t.TempDir()), Request{ReleaseName: "shop", Namespace: "shop", Properties: props}, opts)
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong-password-1234") {
		t.Fatalf("wrong password: %v", err)
	}

	// The redirect target stands for a CDN with a public certificate: the
	// client trusts the test CA everywhere, the repository host by CAData.
	opts = testOptions(t)
	opts.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: ca.ClientTLS()}}
	opts.Credentials = []Credential{{URL: r.url, Username: chartUser, Password: chartPass, CAData: caData}}
	if got := chartLabel(t, props, opts); got != "shop-0.1.0" {
		t.Fatalf("chart label %q", got)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.archives != 1 {
		t.Fatalf("the redirect target served %d archives, want 1", r.archives)
	}
	if len(r.leaked) > 0 {
		t.Fatalf("credentials sent to another host after a redirect: %q", r.leaked)
	}
}

func TestPrivateOCIRegistry(t *testing.T) {
	ca := e2ereg.NewCA(t)
	reg := e2ereg.Start(t, e2ereg.Options{CA: ca, Username: chartUser, Password: chartPass})
	hc := reg.HTTPClient()
	client, err := registry.NewClient(
		registry.ClientOptHTTPClient(hc),
		registry.ClientOptAuthorizer(auth.Client{Client: hc, Credential: auth.StaticCredential(reg.Host, auth.Credential{Username: chartUser, Password: chartPass})}),
		registry.ClientOptWriter(io.Discard),
	)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Push(packageChart(t, "0.2.0"), reg.Host+"/charts/shop:0.2.0", registry.PushOptStrictMode(true)); err != nil {
		t.Fatal(err)
	}
	caData, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	props := map[string]any{"chart": "shop", "repoURL": "oci://" + reg.Host + "/charts", "version": "0.2.0"}

	opts := testOptions(t)
	opts.Credentials = []Credential{{URL: "oci://" + reg.Host + "/charts", Username: chartUser, Password: "wrong-password-5678", CAData: caData}}
	_, err = Render(t.Context(), os.DirFS(t.TempDir()), Request{ReleaseName: "shop", Namespace: "shop", Properties: props}, opts)
	if err == nil || strings.Contains(err.Error(), "wrong-password-5678") {
		t.Fatalf("wrong password: %v", err)
	}

	opts.Credentials[0].Password = chartPass
	if got := chartLabel(t, props, opts); got != "shop-0.2.0" {
		t.Fatalf("chart label %q", got)
	}
}

func TestCredentialMatchesItsHostOnly(t *testing.T) {
	creds := []Credential{
		{URL: "https://charts.example.com/private", Username: "u", Password: "p"},
		{URL: "oci://registry.example.com:5000/charts", Username: "u", Password: "p"},
	}
	for _, tc := range []struct {
		url  string
		want bool
	}{
		{"https://charts.example.com/private/index.yaml", true},
		{"https://charts.example.com/other/x.tgz", true},
		{"http://charts.example.com/private/index.yaml", false},
		{"https://cdn.example.com/private/x.tgz", false},
		{"https://charts.example.com:8443/private/index.yaml", false},
	} {
		u, _ := http.NewRequest(http.MethodGet, tc.url, nil)
		if got := forHTTP(creds, u.URL) != nil; got != tc.want {
			t.Errorf("%s: matched %v, want %v", tc.url, got, tc.want)
		}
	}
	if forOCI(creds, "registry.example.com:5000") == nil || forOCI(creds, "registry.example.com") != nil || forOCI(creds, "charts.example.com") != nil {
		t.Error("OCI credential matched the wrong host")
	}
	if s := creds[0].String(); strings.Contains(s, "p)") || strings.Contains(s, ":p") {
		t.Errorf("String prints the password: %s", s)
	}
}
