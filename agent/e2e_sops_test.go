package agent

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/render/sops"
	"github.com/carina-gitops/carina/render/sops/sopstest"
)

// startAgentOn runs the agent of cfg on ln (nil: a new loopback port)
// with the cluster Secrets reader, logging at debug level to logs as
// well as to the test log, until the test ends.
func startAgentOn(t testing.TB, cfg *config.Config, ln net.Listener, logs io.Writer) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	clusters, err := BuildClusters(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	w := io.Writer(testWriter{t})
	if logs != nil {
		w = io.MultiWriter(logs, w)
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := New(Options{Config: cfg, Logger: log, Targets: clusters.Targets, ReadSecret: clusters.ReadSecret,
		Events: &KubeEvents{Clients: clusters.Clients, Component: "carina-agent", Host: "test"}})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			cancel()
			t.Fatal(err)
		}
	}
	r := &running{a: a, addr: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1),
		secret: []byte("hook-secret"), repo: cfg.Sources.Apps[0].URL}
	r.client = &api.Client{BaseURL: r.addr, Token: "api-token"}
	go func() { r.done <- a.Run(ctx, RunOptions{Clients: clusters.Clients, REST: clusters.REST, Listener: ln}) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// newCanary returns a random value that appears nowhere by chance.
func newCanary(prefix string) string {
	raw := make([]byte, 8)
	rand.Read(raw)
	return prefix + hex.EncodeToString(raw)
}

// encryptFile encrypts plain for k as `sops encrypt --age
// --encrypted-regex regex` does.
func encryptFile(t testing.TB, k sopstest.Key, name, plain, regex string) string {
	t.Helper()
	enc, err := sopstest.Encrypt(name, []byte(plain), regex, k.Recipient)
	if err != nil {
		t.Fatal(err)
	}
	return string(enc)
}

func newAgeKey(t testing.TB) sopstest.Key {
	t.Helper()
	k, err := sopstest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// manifestsAppfile deploys the manifests under the app's secrets/
// directory to prod.
func manifestsAppfile(app, ns string) string {
	return fmt.Sprintf("name: %s\nservices:\n  db:\n    type: manifests\n    path: secrets\nenvironments:\n  prod:\n    clusters: [local]\n    namespace: %s\n", app, ns)
}

func dbSecret(password string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\nstringData:\n  password: %s\n  user: admin\n", password)
}

func markerConfigMap(version string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: marker\ndata:\n  version: %s\n", version)
}

// secretValue reads one key of a Secret's data; "" when it is absent.
func secretValue(t *testing.T, cs kubernetes.Interface, ns, name, key string) string {
	t.Helper()
	s, err := cs.CoreV1().Secrets(ns).Get(t.Context(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(s.Data[key])
}

// TestSOPSSecretDecryptedAndCanaryNeverLeaks: an app source whose age
// key is in a Secret of the cluster deploys a SOPS-encrypted Secret and a
// ConfigMap with an encrypted value; the cluster holds the plaintext. A
// second app's encrypted Service has an invalid plaintext, which the API
// server quotes back in its error. The canary values are then searched,
// in plain and in base64, in the agent's log at debug level, /metrics,
// the status API, the Events and both inventories.
func TestSOPSSecretDecryptedAndCanaryNeverLeaks(t *testing.T) {
	_, cs := needCluster(t)
	ns, keyNS := testNS("sops"), testNS("sops-keys")
	createNamespaces(t, cs, ns, keyNS)
	k := newAgeKey(t)
	if _, err := cs.CoreV1().Secrets(keyNS).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "sops-age"}, Data: map[string][]byte{"age.agekey": []byte("# test key\n" + k.Identity + "\n")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	canary := newCanary("cnry")
	password, dsnPart, svcType := canary+"pw", canary+"dsn", canary+"type"

	repo := newGitRepo(t)
	repo.commit("encrypted secrets", map[string]string{
		"shop/Appfile":             manifestsAppfile(ns, ns),
		"shop/secrets/secret.yaml": encryptFile(t, k, "secret.yaml", dbSecret(password), "^(data|stringData)$"),
		"shop/secrets/config.yaml": encryptFile(t, k, "config.yaml",
			"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: db-config\ndata:\n  dsn: postgres://admin:"+dsnPart+"@db:5432/shop\n", "^data$"),
		"shop/secrets/marker.yaml": markerConfigMap("v1"),
		"bad/Appfile":              manifestsAppfile(ns+"-bad", ns),
		"bad/secrets/service.yaml": encryptFile(t, k, "service.yaml",
			"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: "+svcType+"\n  ports:\n    - port: 80\n", "^spec$"),
	})
	_, cfg := agentConfigSources(t, fmt.Sprintf(
		"apps: [{name: apps, url: %q, interval: 1h, decryption: {provider: sops, secret: {namespace: %s, name: sops-age}}}]",
		repo.url(), keyNS), "", testCluster.Kubeconfig(), "127.0.0.1:0", "")
	var logs lockedBuffer
	r := startAgentOn(t, cfg, nil, &logs)

	eventually(t, 90*time.Second, "the decrypted Secret applied", func() (bool, string) {
		got := secretValue(t, cs, ns, "db", "password")
		return got == password, fmt.Sprintf("password %q", got)
	})
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "db-config", metav1.GetOptions{})
	if err != nil || !strings.Contains(cm.Data["dsn"], dsnPart) {
		t.Fatalf("the ConfigMap's encrypted value is not applied decrypted: %v %v", cm.Data, err)
	}
	if u := secretValue(t, cs, ns, "db", "user"); u != "admin" {
		t.Errorf("user = %q", u)
	}
	var badErr *api.ErrorStatus
	eventually(t, 60*time.Second, "the invalid Service refused", func() (bool, string) {
		e, err := r.env(ns+"-bad", "prod")
		if err != nil || e.LastError == nil {
			return false, fmt.Sprint(err)
		}
		badErr = e.LastError
		return true, ""
	})
	if !strings.Contains(badErr.Message, "Unsupported value") || !strings.Contains(badErr.Message, sops.Mask) {
		t.Errorf("the apply error does not show the server's complaint with the value masked (the search below would prove less): %s", badErr.Message)
	}

	outputs := map[string]string{}
	outputs["/metrics"] = r.metrics(t)
	for _, app := range []string{ns, ns + "-bad"} {
		st, err := r.client.App(t.Context(), app)
		if err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(st)
		outputs["status API ("+app+")"] = string(js)
		inv, err := cs.CoreV1().ConfigMaps(apply.DefaultOptions().InventoryNamespace).Get(t.Context(), inventory.Name(app, "prod"), metav1.GetOptions{})
		if err == nil {
			js, _ = json.Marshal(inv)
			outputs["inventory ("+app+")"] = string(js)
		} else if app == ns {
			t.Fatal(err)
		}
	}
	apps, err := r.client.Apps(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(apps)
	outputs["status API (list)"] = string(js)
	evs, err := cs.CoreV1().Events("").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	js, _ = json.Marshal(evs)
	outputs["Events"] = string(js)
	// carina diff of the app with new values: the changed fields show,
	// masked on both sides.
	diffDir := t.TempDir()
	keyFile := filepath.Join(diffDir, "keys.txt")
	for name, content := range map[string]string{
		"keys.txt":            k.Identity + "\n",
		"Appfile":             manifestsAppfile(ns, ns),
		"secrets/secret.yaml": encryptFile(t, k, "secret.yaml", dbSecret(canary+"pw2"), "^(data|stringData)$"),
		"secrets/config.yaml": encryptFile(t, k, "config.yaml",
			"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: db-config\ndata:\n  dsn: postgres://admin:"+canary+"dsn2@db:5432/shop\n", "^data$"),
		"secrets/marker.yaml": markerConfigMap("v1"),
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(diffDir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(diffDir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	outputs["carina diff"] = carinaDiffArgs(t, testCluster.Kubeconfig(), diffDir, "--decrypt", "--age-key-file", keyFile)
	for _, ref := range []string{"ConfigMap/" + ns + "/db-config", "Secret/" + ns + "/db"} {
		if !strings.Contains(outputs["carina diff"], ref) {
			t.Errorf("carina diff does not show the changed %s (the search below would prove nothing):\n%s", ref, outputs["carina diff"])
		}
	}
	outputs["log"] = logs.String()
	if !strings.Contains(outputs["log"], `level=DEBUG`) {
		t.Error("the log holds no debug line: the search would prove less")
	}
	for name, out := range outputs {
		for _, v := range []string{canary, base64.StdEncoding.EncodeToString([]byte(password)), base64.StdEncoding.EncodeToString([]byte(svcType))} {
			if i := strings.Index(out, v); i >= 0 {
				t.Errorf("a canary appears in the %s: ...%s...", name, out[max(0, i-80):min(len(out), i+40)])
			}
		}
	}
}

// TestSOPSTamperedFileKeepsLastState: after a good deploy, a commit whose
// encrypted Secret was edited after encryption (MAC mismatch), then one
// encrypted for a key the source does not have, each fail with the
// file's position and apply nothing of the app (not even its plain
// ConfigMap); a good commit then deploys.
func TestSOPSTamperedFileKeepsLastState(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("sops-tamper")
	createNamespaces(t, cs, ns)
	k, other := newAgeKey(t), newAgeKey(t)
	keyFile := filepath.Join(t.TempDir(), "keys.txt")
	if err := os.WriteFile(keyFile, []byte(k.Identity+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secretRegex := "^(data|stringData)$"
	repo := newGitRepo(t)
	repo.commit("v1", map[string]string{
		"shop/Appfile":             manifestsAppfile(ns, ns),
		"shop/secrets/secret.yaml": encryptFile(t, k, "secret.yaml", dbSecret("first-password"), secretRegex),
		"shop/secrets/marker.yaml": markerConfigMap("v1"),
	})
	_, cfg := agentConfigSources(t, fmt.Sprintf(
		"apps: [{name: apps, url: %q, interval: 1h, decryption: {keyFile: %s}}]", repo.url(), keyFile),
		"", testCluster.Kubeconfig(), "127.0.0.1:0", "")
	r := startAgentOn(t, cfg, nil, nil)
	marker := func() string {
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "marker", metav1.GetOptions{})
		if err != nil {
			return fmt.Sprint(err)
		}
		return cm.Data["version"]
	}
	eventually(t, 90*time.Second, "v1 applied", func() (bool, string) {
		return marker() == "v1" && secretValue(t, cs, ns, "db", "password") == "first-password", marker()
	})

	good := encryptFile(t, k, "secret.yaml", dbSecret("second-password"), secretRegex)
	tampered := strings.Replace(good, "name: db", "name: dc", 1)
	for _, tc := range []struct {
		name, file, want string
	}{
		{"mac mismatch", tampered, "sops MAC mismatch"},
		{"key not configured", encryptFile(t, other, "secret.yaml", dbSecret("second-password"), secretRegex), "sops file has no configured key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rev := repo.commit(tc.name, map[string]string{"shop/secrets/secret.yaml": tc.file, "shop/secrets/marker.yaml": markerConfigMap(tc.name)})
			time.Sleep(1100 * time.Millisecond) // the webhook queue's per-repository cooldown
			r.hook(t)
			var last *api.ErrorStatus
			eventually(t, 60*time.Second, "the decryption error reported", func() (bool, string) {
				e, err := r.env(ns, "prod")
				if err != nil {
					return false, err.Error()
				}
				last = e.LastError
				return last != nil && strings.Contains(last.Message, rev), fmt.Sprintf("%+v", last)
			})
			if !strings.Contains(last.Message, "shop/secrets/secret.yaml:") || !strings.Contains(last.Message, tc.want) {
				t.Errorf("error %q does not name the file, line and cause %q", last.Message, tc.want)
			}
			if !strings.HasPrefix(last.Position, "shop/secrets/secret.yaml:") {
				t.Errorf("error position %q is not the file's", last.Position)
			}
			if strings.Contains(last.Message, "second-password") || strings.Contains(last.Message, "AGE-SECRET-KEY") {
				t.Errorf("error holds a secret: %s", last.Message)
			}
			time.Sleep(time.Second) // nothing may be applied meanwhile
			if got := marker(); got != "v1" {
				t.Errorf("marker = %q: part of the app was applied", got)
			}
			if got := secretValue(t, cs, ns, "db", "password"); got != "first-password" {
				t.Errorf("password = %q: the last state was not kept", got)
			}
			if _, err := cs.CoreV1().Secrets(ns).Get(t.Context(), "dc", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("the tampered Secret was applied: %v", err)
			}
		})
	}

	repo.commit("v2", map[string]string{"shop/secrets/secret.yaml": good, "shop/secrets/marker.yaml": markerConfigMap("v2")})
	time.Sleep(1100 * time.Millisecond)
	r.hook(t)
	eventually(t, 60*time.Second, "v2 applied", func() (bool, string) {
		return marker() == "v2" && secretValue(t, cs, ns, "db", "password") == "second-password", marker()
	})
}

// carinaDiffArgs runs the real `carina diff` on dir against the cluster.
func carinaDiffArgs(t *testing.T, kubeconfig, dir string, args ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "carina")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/carina").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	args = append([]string{"diff", dir, "--env", "prod", "--kubeconfig", kubeconfig}, args...)
	out, _ := exec.Command(bin, args...).CombinedOutput() // exit 1: a difference
	return string(out)
}
