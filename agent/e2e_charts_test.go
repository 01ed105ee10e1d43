package agent

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/carina-gitops/carina/e2e/registry"
)

const (
	chartUser     = "charts-robot"
	chartPassword = "chart-password-5b0e"
)

// greetChart packages a chart "greet" at 0.1.0 whose one ConfigMap
// carries .Values.greeting.
func greetChart(t *testing.T) []byte {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "greet")
	files := map[string]string{
		"Chart.yaml":               "apiVersion: v2\nname: greet\nversion: 0.1.0\n",
		"values.yaml":              "greeting: hello\n",
		"templates/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greet\ndata:\n  greeting: {{ .Values.greeting | quote }}\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := loader.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	name, err := chartutil.Save(c, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// greetChartAndIndex is greet's archive and a repository index that
// names it as greet-0.1.0.tgz.
func greetChartAndIndex(t *testing.T) ([]byte, []byte) {
	t.Helper()
	data := greetChart(t)
	c, err := loader.LoadArchive(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	idx := repo.NewIndexFile()
	if err := idx.MustAdd(c.Metadata, "greet-0.1.0.tgz", "", ""); err != nil {
		t.Fatal(err)
	}
	index, err := yaml.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	return data, index
}

// privateChartRepo serves greet over HTTPS (a certificate of ca) with
// basic auth at <URL>/charts, and counts the requests it refused.
func privateChartRepo(t *testing.T, ca *registry.CA) (string, *atomic.Int32) {
	t.Helper()
	data, index := greetChartAndIndex(t)
	var refused atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != chartUser || p != chartPassword {
			refused.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="charts"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/charts/index.yaml":
			w.Write(index)
		case "/charts/greet-0.1.0.tgz":
			w.Write(data)
		default:
			http.NotFound(w, r)
		}
	}))
	srv.Listener.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.TLS = ca.ServerTLS(t)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL + "/charts", &refused
}

// TestPrivateChartRepository: an app source's helmRepositories entry,
// whose user name, password and CA are in a Secret of the cluster, lets
// its app render a chart from an HTTPS repository with basic auth.
func TestPrivateChartRepository(t *testing.T) {
	_, cs := needCluster(t)
	ns, credNS := testNS("charts"), testNS("charts-creds")
	createNamespaces(t, cs, ns, credNS)
	ca := registry.NewCA(t)
	url, refused := privateChartRepo(t, ca)
	caPEM, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Secrets(credNS).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "charts"},
		Data:       map[string][]byte{"username": []byte(chartUser), "password": []byte(chartPassword), "ca.crt": caPEM},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	repoGit := newGitRepo(t)
	repoGit.commit("helm app", map[string]string{"shop/Appfile": fmt.Sprintf(`name: %s
services:
  web:
    type: helm
    repoURL: %s
    chart: greet
    version: 0.1.0
    values: {greeting: from-a-private-repo}
environments:
  prod:
    clusters: [local]
    namespace: %s
`, ns, url, ns)})
	_, cfg := agentConfigSources(t, fmt.Sprintf(
		"apps: [{name: apps, url: %q, interval: 1h, helmRepositories: [{url: %q, secret: {namespace: %s, name: charts}}]}]",
		repoGit.url(), url, credNS), "", testCluster.Kubeconfig(), "127.0.0.1:0", "")
	var logs lockedBuffer
	startAgentOn(t, cfg, nil, &logs)
	eventually(t, 90*time.Second, "the chart from the private repository applied", func() (bool, string) {
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "greet", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return cm.Data["greeting"] == "from-a-private-repo", fmt.Sprint(cm.Data)
	})
	if strings.Contains(logs.String(), chartPassword) {
		t.Error("the log holds the chart repository's password")
	}
	t.Logf("requests refused for want of credentials: %d", refused.Load())
}
