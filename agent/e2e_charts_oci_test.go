package agent

import (
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	helmreg "helm.sh/helm/v3/pkg/registry"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/carina-gitops/carina/e2e/registry"
)

// helmAppfile deploys chart greet 0.1.0 of repoURL with a greeting.
func helmAppfile(app, ns, repoURL, greeting string) string {
	return fmt.Sprintf(`name: %s
services:
  web:
    type: helm
    repoURL: %s
    chart: greet
    version: 0.1.0
    values: {greeting: %s}
environments:
  prod:
    clusters: [local]
    namespace: %s
`, app, repoURL, greeting, ns)
}

// greetGreeting reads the greet ConfigMap's greeting.
func greetGreeting(t *testing.T, ns string) string {
	t.Helper()
	_, cs := needCluster(t)
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "greet", metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	return cm.Data["greeting"]
}

// TestChartFromOCIRegistry: an app's Helm chart is pulled from a real
// Distribution registry over TLS with htpasswd auth, with the user name,
// password file and CA file of the source's helmRepositories entry, and
// deployed by the running agent; the password is not in its log.
func TestChartFromOCIRegistry(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("oci-chart")
	createNamespaces(t, cs, ns)
	ca := registry.NewCA(t)
	reg := registry.Start(t, registry.Options{CA: ca, Username: chartUser, Password: chartPassword})
	hc := reg.HTTPClient()
	client, err := helmreg.NewClient(helmreg.ClientOptHTTPClient(hc), helmreg.ClientOptWriter(io.Discard),
		helmreg.ClientOptAuthorizer(auth.Client{Client: hc, Credential: auth.StaticCredential(reg.Host, auth.Credential{Username: chartUser, Password: chartPassword})}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Push(greetChart(t), reg.Host+"/charts/greet:0.1.0", helmreg.PushOptStrictMode(true)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte(chartPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	chartsURL := "oci://" + reg.Host + "/charts"
	repoGit := newGitRepo(t)
	repoGit.commit("helm app from oci", map[string]string{"shop/Appfile": helmAppfile(ns, ns, chartsURL, "from-an-oci-registry")})
	_, cfg := agentConfigSources(t, fmt.Sprintf(
		"apps: [{name: apps, url: %q, interval: 1h, helmRepositories: [{url: %q, auth: {username: %s, passwordFile: %s, caFile: %s}}]}]",
		repoGit.url(), chartsURL, chartUser, pwFile, ca.File), "", testCluster.Kubeconfig(), "127.0.0.1:0", "")
	var logs lockedBuffer
	r := startAgentOn(t, cfg, nil, &logs)
	eventually(t, 90*time.Second, "the chart from the OCI registry applied", func() (bool, string) {
		got := greetGreeting(t, ns)
		return got == "from-an-oci-registry", got
	})
	eventually(t, 30*time.Second, "the env healthy", healthyEnv(r, ns, "prod"))
	if strings.Contains(logs.String(), chartPassword) {
		t.Error("the log holds the registry's password")
	}
}

// headerLog records the headers a server received.
type headerLog struct {
	mu   sync.Mutex
	reqs []http.Header
}

func (l *headerLog) add(h http.Header) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, h.Clone())
}

func (l *headerLog) all() []http.Header {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]http.Header(nil), l.reqs...)
}

// redirectingChartRepo serves greet's index over HTTPS with basic auth
// at <URL>/charts; the index points the archive into the repository,
// which redirects it to a second host (127.0.0.2, the same CA, no auth)
// that records the headers it receives.
func redirectingChartRepo(t *testing.T, ca *registry.CA) (repoURL, otherURL string, seen *headerLog) {
	t.Helper()
	data, index := greetChartAndIndex(t)
	seen = &headerLog{}
	other := tlsTestServer(t, ca, "127.0.0.2:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.add(r.Header)
		w.Write(data)
	}))
	srv := tlsTestServer(t, ca, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != chartUser || p != chartPassword {
			w.Header().Set("WWW-Authenticate", `Basic realm="charts"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/charts/index.yaml":
			w.Write(index)
		case "/charts/greet-0.1.0.tgz":
			http.Redirect(w, r, other.URL+"/blobs/greet-0.1.0.tgz", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	return srv.URL + "/charts", other.URL, seen
}

// tlsTestServer serves h over HTTPS on addr with a certificate of ca.
func tlsTestServer(t *testing.T, ca *registry.CA, addr string, h http.Handler) *httptest.Server {
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

// TestChartRedirectToAnotherHostGetsNoCredentials: a private chart
// repository redirects the chart's download to another host (a CDN,
// trusted through its own helmRepositories entry, which holds a CA and
// no credentials). The running agent deploys the chart, and the second
// host received no Authorization header and nothing of the repository's
// credentials.
func TestChartRedirectToAnotherHostGetsNoCredentials(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("chart-redirect")
	createNamespaces(t, cs, ns)
	ca := registry.NewCA(t)
	repoURL, otherURL, seen := redirectingChartRepo(t, ca)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte(chartPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	repoGit := newGitRepo(t)
	repoGit.commit("helm app", map[string]string{"shop/Appfile": helmAppfile(ns, ns, repoURL, "through-a-redirect")})
	_, cfg := agentConfigSources(t, fmt.Sprintf(
		`apps: [{name: apps, url: %q, interval: 1h, helmRepositories: [{url: %q, auth: {username: %s, passwordFile: %s, caFile: %s}}, {url: %q, auth: {caFile: %s}}]}]`,
		repoGit.url(), repoURL, chartUser, pwFile, ca.File, otherURL, ca.File), "", testCluster.Kubeconfig(), "127.0.0.1:0", "")
	startAgentOn(t, cfg, nil, nil)
	eventually(t, 90*time.Second, "the chart downloaded through the redirect applied", func() (bool, string) {
		got := greetGreeting(t, ns)
		return got == "through-a-redirect", got
	})
	reqs := seen.all()
	if len(reqs) == 0 {
		t.Fatal("the second host served nothing: the redirect was not followed")
	}
	basic := base64.StdEncoding.EncodeToString([]byte(chartUser + ":" + chartPassword))
	for _, h := range reqs {
		if a := h.Get("Authorization"); a != "" {
			t.Errorf("the second host received Authorization %q", a)
		}
		for k, vs := range h {
			for _, v := range vs {
				if strings.Contains(v, chartPassword) || strings.Contains(v, basic) {
					t.Errorf("the second host received the credentials in header %s", k)
				}
			}
		}
	}
}
