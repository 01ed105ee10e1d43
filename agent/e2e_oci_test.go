package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/e2e/registry"
	"github.com/carina-gitops/carina/source/webhook"
)

// ociApp is an Appfile deploying one ConfigMap whose greeting is
// version.
func ociApp(app, ns, version string) string {
	return fmt.Sprintf(`name: %s
services:
  web:
    type: k8s-objects
    objects:
      - {apiVersion: v1, kind: ConfigMap, metadata: {name: web}, data: {greeting: %q}}
environments:
  prod:
    clusters: [local]
    namespace: %s
`, app, version, ns)
}

// ociSetup is a TLS registry with htpasswd auth whose notifications go
// to the agent's /hooks/registry receiver, and the agent's configuration
// directory.
type ociSetup struct {
	reg *registry.Registry
	ca  *registry.CA
	ln  net.Listener
	dir string
	// pwFile is the agent's registry password file.
	pwFile string
}

const (
	ociUser     = "carina"
	ociPassword = "registry-password-4c1d"
	ociHook     = "registry-hook-secret"
	ociGeneric  = "registry-generic-secret"
)

func newOCISetup(t testing.TB, notify bool) *ociSetup {
	t.Helper()
	s := &ociSetup{ca: registry.NewCA(t), dir: t.TempDir()}
	var err error
	if s.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	opts := registry.Options{CA: s.ca, Username: ociUser, Password: ociPassword}
	if notify {
		// The registry posts its notifications as Distribution does, with
		// the static bearer header its endpoint config sets.
		opts.NotifyURL = "http://" + s.ln.Addr().String() + "/hooks/registry"
		opts.NotifyHeaders = http.Header{"Authorization": {"Bearer " + ociHook}}
	}
	s.reg = registry.Start(t, opts)
	s.pwFile = s.write(t, "registry-password", ociPassword)
	return s
}

func (s *ociSetup) write(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(s.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// config writes the agent's configuration with the given app sources
// (YAML list items, indented by 4) and both registry receivers.
func (s *ociSetup) config(t testing.TB, sources string) *config.Config {
	t.Helper()
	text := fmt.Sprintf(`
cacheDir: %[1]s/cache
sources:
  apps:
%[2]s
clusters:
  - name: local
    kubeconfig: {file: %[3]s}
webhooks:
  - {provider: distribution, path: /hooks/registry, secretFile: %[4]s}
  - {provider: registry-generic, path: /hooks/registry-generic, secretFile: %[5]s}
server:
  listen: 127.0.0.1:0
  api: {tokenFile: %[6]s, allowWrites: true}
reconcile: {workers: 4, minBackoff: 200ms, maxBackoff: 5s, stepTimeout: 1m}
leaderElection: {enabled: false}
`, s.dir, sources, testCluster.Kubeconfig(), s.write(t, "hook", ociHook), s.write(t, "generic-hook", ociGeneric), s.write(t, "api-token", "api-token"))
	cfg, err := config.Parse("carina.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// source is one app source item for repo.
func (s *ociSetup) source(name, repo, extra string) string {
	return fmt.Sprintf("    - name: %s\n      url: %s\n      tag: latest\n      interval: 1h\n      auth: {username: %s, passwordFile: %s, caFile: %s}\n%s",
		name, s.reg.URL(repo), ociUser, s.pwFile, s.ca.File, extra)
}

// genericHook posts a signed registry-generic webhook for repo:latest.
func (s *ociSetup) genericHook(t testing.TB, r *running, repo string) {
	t.Helper()
	body := fmt.Sprintf(`{"repository": %q, "tag": "latest"}`, s.reg.URL(repo))
	req, _ := http.NewRequest(http.MethodPost, r.addr+"/hooks/registry-generic", strings.NewReader(body))
	req.Header.Set("X-Signature-256", "sha256="+webhook.Sign([]byte(ociGeneric), []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("registry-generic webhook answered %d", resp.StatusCode)
	}
}

func greeting(t testing.TB, cs kubernetes.Interface, ns string) string {
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		return fmt.Sprint(err)
	}
	return cm.Data["greeting"]
}

// TestOCISourceRegistryWebhook: an oci:// source on a real Distribution
// registry (TLS, htpasswd) polled once an hour. v1 pushed as `flux push
// artifact` does is applied; v2 pushed under the same tag is applied
// after the registry's own notification reaches the agent's
// distribution receiver. Then the agent's password is wrong: a push
// announced by a signed registry-generic webhook gives a clear error
// without the password, and v2 stays.
func TestOCISourceRegistryWebhook(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("oci")
	createNamespaces(t, cs, ns)
	s := newOCISetup(t, true)
	const repo = "apps/shop"
	d1 := s.reg.PushFlux(t, repo, "latest", map[string]string{"shop/Appfile": ociApp(ns, ns, "v1")})
	var logs lockedBuffer
	r := startAgentOn(t, s.config(t, s.source("oci", repo, "")), s.ln, &logs)

	eventually(t, 90*time.Second, "v1 applied", func() (bool, string) {
		g := greeting(t, cs, ns)
		return g == "v1", g
	})
	eventually(t, 10*time.Second, "the status revision is the pushed digest", func() (bool, string) {
		e, err := r.env(ns, "prod")
		return err == nil && e.Revision == "latest@"+d1, fmt.Sprintf("revision %q (%v), want latest@%s", e.Revision, err, d1)
	})

	time.Sleep(1100 * time.Millisecond) // the webhook queue's per-repository cooldown
	start := time.Now()
	d2 := s.reg.PushFlux(t, repo, "latest", map[string]string{"shop/Appfile": ociApp(ns, ns, "v2")})
	eventually(t, 30*time.Second, "v2 applied after the registry's notification", func() (bool, string) {
		g := greeting(t, cs, ns)
		return g == "v2", g
	})
	t.Logf("push of v2 to applied: %s", time.Since(start).Round(time.Millisecond))
	eventually(t, 10*time.Second, "the status revision is the pushed digest", func() (bool, string) {
		e, err := r.env(ns, "prod")
		return err == nil && e.Revision == "latest@"+d2, fmt.Sprintf("revision %q (%v), want latest@%s", e.Revision, err, d2)
	})
	if m := r.metrics(t); !strings.Contains(m, `carina_webhook_requests_total{event="push",provider="distribution",result="accepted"}`) {
		t.Errorf("no accepted distribution webhook in /metrics:\n%s", grepLines(m, "carina_webhook"))
	}

	wrong := "wrong-registry-password-77e1"
	s.write(t, "registry-password", wrong)
	time.Sleep(1100 * time.Millisecond)
	s.reg.PushFlux(t, repo, "latest", map[string]string{"shop/Appfile": ociApp(ns, ns, "v3")})
	s.genericHook(t, r, repo)
	var msg string
	eventually(t, 30*time.Second, "the refused credentials reported", func() (bool, string) {
		st, err := r.client.App(t.Context(), ns)
		if err != nil || st.Error == nil {
			return false, fmt.Sprint(err)
		}
		msg = st.Error.Message
		return true, ""
	})
	if !strings.Contains(msg, "registry refused the credentials") || !strings.Contains(msg, s.reg.Host+"/"+repo) {
		t.Errorf("error %q is not clear: it should say the registry refused the credentials and name the repository", msg)
	}
	for name, out := range map[string]string{"status": msg, "log": logs.String(), "/metrics": r.metrics(t)} {
		if strings.Contains(out, wrong) || strings.Contains(out, ociPassword) {
			t.Errorf("the %s holds a registry password", name)
		}
	}
	if g := greeting(t, cs, ns); g != "v2" {
		t.Errorf("greeting = %q: the last state was not kept", g)
	}
}

// TestOCISourceRequiresSignature: a source with verify refuses an
// unsigned artifact (nothing is applied) and applies it once it carries
// a cosign signature made with the configured key.
func TestOCISourceRequiresSignature(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("oci-signed")
	createNamespaces(t, cs, ns)
	s := newOCISetup(t, false)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	pub := s.write(t, "cosign.pub", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	const repo = "apps/signed"
	digest := s.reg.PushFlux(t, repo, "latest", map[string]string{"shop/Appfile": ociApp(ns, ns, "signed")})
	var logs lockedBuffer
	r := startAgentOn(t, s.config(t, s.source("signed", repo, fmt.Sprintf("      verify: {publicKeyFile: %s}\n", pub))), s.ln, &logs)

	eventually(t, 60*time.Second, "the unsigned artifact refused", func() (bool, string) {
		l := logs.String()
		return strings.Contains(l, "source fetch failed") && strings.Contains(l, "artifact signature verification failed"), ""
	})
	time.Sleep(time.Second)
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the unsigned artifact was applied: %v", err)
	}
	s.reg.SignCosign(t, repo, digest, key)
	s.genericHook(t, r, repo)
	eventually(t, 30*time.Second, "the signed artifact applied", func() (bool, string) {
		g := greeting(t, cs, ns)
		return g == "signed", g
	})
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
