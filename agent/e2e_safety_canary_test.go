package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/e2e/faultproxy"
	"github.com/carina-gitops/carina/e2e/gitserver"
	"github.com/carina-gitops/carina/source/webhook"
)

// lockedBuffer is a log sink the agent's goroutines write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// canaryAppfile deploys a Secret whose data is secret, and a ConfigMap.
func canaryAppfile(app, ns, secret string) string {
	return fmt.Sprintf(`name: %s
services:
  web:
    type: k8s-objects
    objects:
      - {apiVersion: v1, kind: ConfigMap, metadata: {name: web}, data: {greeting: hello}}
      - {apiVersion: v1, kind: Secret, metadata: {name: creds}, stringData: {token: %s}}
environments:
  prod:
    clusters: [local]
    namespace: %s
`, app, secret, ns)
}

// TestSecretCanaryNeverLeaks: a canary string is in the Git password, the
// webhook secret, the kubeconfig's bearer token and a Secret's data. The
// agent deploys, answers a good and a badly signed webhook, and the
// canary is then searched in the agent's log at debug level, the Events,
// the status API, /metrics, the inventory and `carina diff` output.
func TestSecretCanaryNeverLeaks(t *testing.T) {
	c, cs := needCluster(t)
	ns := testNS("canary")
	createNamespaces(t, cs, ns)
	raw := make([]byte, 8)
	rand.Read(raw)
	canary := "cnry" + hex.EncodeToString(raw)
	gitPassword, hookSecret, kubeToken, secretData := canary+"gitpw", canary+"hook", canary+"kube", canary+"data"

	repos := gitserver.NewRepos(t)
	w := repos.Create(t, "app")
	w.Write("app/Appfile", canaryAppfile(ns, ns, secretData))
	w.Commit("first")
	w.Push("main")
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{Username: "carina", Password: gitPassword})

	up, err := c.UserConfig("carina-canary", "system:masters")
	if err != nil {
		t.Fatal(err)
	}
	p, err := faultproxy.Start(up) // no faults: it lets the kubeconfig carry a token
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	dir := t.TempDir()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: p.URL(), CertificateAuthorityData: p.Config().CAData}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: kubeToken}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "c"
	kcPath := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, kcPath); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"git-password": gitPassword, "hook-secret": hookSecret, "api-token": "api-token"}
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfgPath := filepath.Join(dir, "carina.yaml")
	text := fmt.Sprintf(`
cacheDir: %[1]s/cache
sources:
  apps:
    - name: apps
      url: %[2]q
      interval: 1h
      auth: {username: carina, passwordFile: %[1]s/git-password}
clusters:
  - name: local
    kubeconfig: {file: %[3]s}
webhooks:
  - {provider: generic, secretFile: %[1]s/hook-secret}
server:
  listen: 127.0.0.1:0
  api: {tokenFile: %[1]s/api-token, allowWrites: true}
reconcile: {workers: 4, minBackoff: 200ms, maxBackoff: 5s, stepTimeout: 1m}
leaderElection: {enabled: false}
`, dir, srv.RepoURL("app"), kcPath)
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}

	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(io.MultiWriter(&logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	clusters, err := BuildClusters(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Config: cfg, Logger: log, Targets: clusters.Targets,
		Events: &KubeEvents{Clients: clusters.Clients, Component: "carina-agent", Host: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, RunOptions{Clients: clusters.Clients, REST: clusters.REST, Listener: ln}) }()
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + ln.Addr().String()
	client := &api.Client{BaseURL: base, Token: "api-token"}

	eventually(t, 90*time.Second, "the Secret deployed", func() (bool, string) {
		_, err := cs.CoreV1().Secrets(ns).Get(t.Context(), "creds", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})
	post := func(sig string) int {
		body := fmt.Sprintf(`{"repository": %q, "ref": "refs/heads/main"}`, srv.RepoURL("app"))
		req, _ := http.NewRequest(http.MethodPost, base+"/hooks/generic", strings.NewReader(body))
		req.Header.Set("X-Signature-256", "sha256="+sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	body := fmt.Sprintf(`{"repository": %q, "ref": "refs/heads/main"}`, srv.RepoURL("app"))
	if code := post(webhook.Sign([]byte(hookSecret), []byte(body))); code != http.StatusAccepted {
		t.Errorf("signed webhook answered %d", code)
	}
	if code := post(webhook.Sign([]byte("wrong"), []byte(body))); code != http.StatusUnauthorized {
		t.Errorf("badly signed webhook answered %d", code)
	}

	outputs := map[string]string{"log": ""}
	get := func(path string) string {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer api-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	outputs["/metrics"] = get("/metrics")
	st, err := client.App(t.Context(), ns)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(st)
	outputs["status API (app)"] = string(js)
	apps, err := client.Apps(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	js, _ = json.Marshal(apps)
	outputs["status API (list)"] = string(js)
	evs, err := cs.CoreV1().Events("").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	js, _ = json.Marshal(evs)
	outputs["Events"] = string(js)
	inv, err := cs.CoreV1().ConfigMaps(apply.DefaultOptions().InventoryNamespace).Get(t.Context(), inventory.Name(ns, "prod"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	js, _ = json.Marshal(inv)
	outputs["inventory"] = string(js)
	outputs["carina diff"] = carinaDiff(t, c.Kubeconfig(), canaryAppfile(ns, ns, canary+"changed"))
	if !strings.Contains(outputs["carina diff"], "Secret/"+ns+"/creds") {
		t.Errorf("carina diff does not show the changed Secret (the search below would prove nothing):\n%s", outputs["carina diff"])
	}
	outputs["log"] = logs.String()
	for name, out := range outputs {
		if i := strings.Index(out, canary); i >= 0 {
			t.Errorf("the canary appears in the %s: ...%s...", name, out[max(0, i-80):min(len(out), i+40)])
		}
	}
}

// carinaDiff runs the real `carina diff` on appfile against the cluster.
func carinaDiff(t *testing.T, kubeconfig, appfile string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "carina")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/carina").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Appfile"), []byte(appfile), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(bin, "diff", dir, "--env", "prod", "--kubeconfig", kubeconfig).CombinedOutput() // exit 1: a difference
	return string(out)
}
