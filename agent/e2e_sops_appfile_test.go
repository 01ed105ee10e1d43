package agent

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/render/sops/sopstest"
)

// b64SecretDefinition is an app repository's own component that
// base64-encodes its token into a Secret's data, as templates do.
const b64SecretDefinition = `import "encoding/base64"

"b64-secret": {
	type: "component"
	attributes: workload: definition: {apiVersion: "v1", kind: "Secret"}
}
template: {
	output: {
		apiVersion: "v1"
		kind:       "Secret"
		metadata: name: context.name
		data: token: base64.Encode(null, parameter.token)
	}
	parameter: token: string
}
`

// secretPropsAppfile has a k8s-objects service whose Secret's password
// and a b64-secret service whose token are properties, and a plain
// marker ConfigMap.
func secretPropsAppfile(app, ns, password, token, version string) string {
	return fmt.Sprintf(`name: %[1]s
services:
  db:
    type: k8s-objects
    objects:
      - apiVersion: v1
        kind: Secret
        metadata: {name: db}
        stringData:
          password: %[3]s
      - apiVersion: v1
        kind: ConfigMap
        metadata: {name: marker}
        data: {version: %[5]s}
  api:
    type: b64-secret
    token: %[4]s
environments:
  prod:
    clusters: [local]
    namespace: %[2]s
`, app, ns, password, token, version)
}

// encryptAppfile encrypts an Appfile's password and token values, as
// `sops encrypt --encrypted-regex '^(password|token)$'` does.
func encryptAppfile(t *testing.T, k sopstest.Key, plain string) string {
	t.Helper()
	return encryptFile(t, k, "Appfile", plain, "^(password|token)$")
}

// writeTree writes files under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSOPSEncryptedAppfileProperties: an Appfile whose password and
// token properties are SOPS-encrypted (the rest readable) deploys with
// the decrypted values, also where the repository's own definition
// base64-encodes one. `carina render` shows ciphertext unless --decrypt
// is given a key. The canaries appear nowhere: log, /metrics, status
// API, Events, inventory, carina diff. An Appfile edited after it was
// encrypted, then one for a key the source lacks, each fail with the
// Appfile's position and apply nothing of the app; a good commit then
// deploys.
func TestSOPSEncryptedAppfileProperties(t *testing.T) {
	_, cs := needCluster(t)
	ns, keyNS := testNS("sops-props"), testNS("sops-props-keys")
	createNamespaces(t, cs, ns, keyNS)
	k, other := newAgeKey(t), newAgeKey(t)
	if _, err := cs.CoreV1().Secrets(keyNS).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "sops-age"}, Data: map[string][]byte{"age.agekey": []byte(k.Identity + "\n")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	canary := newCanary("prop")
	password, token := canary+"pw", canary+"tok"
	v1 := encryptAppfile(t, k, secretPropsAppfile(ns, ns, password, token, "v1"))
	if strings.Contains(v1, canary) || !strings.Contains(v1, "version: v1") {
		t.Fatalf("the Appfile is not encrypted as the test means:\n%s", v1)
	}
	repo := newGitRepo(t)
	repo.commit("encrypted properties", map[string]string{
		"shop/Appfile": v1, "shop/.carina/definitions/b64-secret.cue": b64SecretDefinition,
	})
	_, cfg := agentConfigSources(t, fmt.Sprintf(
		"apps: [{name: apps, url: %q, interval: 1h, definitions: shop/.carina/definitions, decryption: {provider: sops, secret: {namespace: %s, name: sops-age}}}]",
		repo.url(), keyNS), "", testCluster.Kubeconfig(), "127.0.0.1:0", "")
	var logs lockedBuffer
	r := startAgentOn(t, cfg, nil, &logs)
	marker := func() string {
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "marker", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		return cm.Data["version"]
	}
	eventually(t, 90*time.Second, "the decrypted properties applied", func() (bool, string) {
		return marker() == "v1" && secretValue(t, cs, ns, "db", "password") == password && secretValue(t, cs, ns, "api", "token") == token,
			fmt.Sprintf("marker %s", marker())
	})

	// carina render: ciphertext, unless --decrypt has the key.
	bin := buildCarina(t)
	work := t.TempDir()
	keyFile := filepath.Join(work, "keys.txt")
	writeTree(t, work, map[string]string{"keys.txt": k.Identity + "\n"})
	checkout := filepath.Join(work, "repo")
	if out, err := exec.Command("git", "clone", "-q", repo.dir, checkout).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	render := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"render", filepath.Join(checkout, "shop"), "--env", "prod"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("carina render %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := render(); strings.Contains(out, canary) || strings.Count(out, "ENC[AES256_GCM,") < 1 {
		t.Errorf("carina render without --decrypt shows no ciphertext or a plaintext:\n%s", out)
	}
	if out := render("--decrypt", "--age-key-file", keyFile); !strings.Contains(out, password) ||
		!strings.Contains(out, base64.StdEncoding.EncodeToString([]byte(token))) {
		t.Errorf("carina render --decrypt does not show the decrypted values:\n%s", out)
	}

	outputs := map[string]string{"/metrics": r.metrics(t)}
	st, err := r.client.App(t.Context(), ns)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(st)
	outputs["status API"] = string(js)
	inv, err := cs.CoreV1().ConfigMaps(apply.DefaultOptions().InventoryNamespace).Get(t.Context(), inventory.Name(ns, "prod"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	js, _ = json.Marshal(inv)
	outputs["inventory"] = string(js)
	// carina diff of new values, with the key: the changed values show
	// masked.
	writeTree(t, filepath.Join(checkout, "shop"), map[string]string{
		"Appfile": encryptAppfile(t, k, secretPropsAppfile(ns, ns, canary+"pw2", canary+"tok2", "v1"))})
	diffOut, _ := exec.Command(bin, "diff", filepath.Join(checkout, "shop"), "--env", "prod", "--kubeconfig", testCluster.Kubeconfig(),
		"--decrypt", "--age-key-file", keyFile).CombinedOutput()
	outputs["carina diff"] = string(diffOut)
	for _, ref := range []string{"Secret/" + ns + "/db", "Secret/" + ns + "/api"} {
		if !strings.Contains(outputs["carina diff"], ref) {
			t.Errorf("carina diff does not show the changed %s (the search below would prove nothing):\n%s", ref, diffOut)
		}
	}

	// Tampered, then for another key: nothing of the app applied.
	tampered := strings.Replace(encryptAppfile(t, k, secretPropsAppfile(ns, ns, password, token, "v1")), "version: v1", "version: v2", 1)
	for _, tc := range []struct{ name, file, want string }{
		{"mac mismatch", tampered, "sops MAC mismatch"},
		{"key not configured", encryptAppfile(t, other, secretPropsAppfile(ns, ns, password, token, "v2")), "sops file has no configured key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rev := repo.commit(tc.name, map[string]string{"shop/Appfile": tc.file})
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
			if !strings.HasPrefix(last.Position, "shop/Appfile:") || !strings.Contains(last.Message, "shop/Appfile:") || !strings.Contains(last.Message, tc.want) {
				t.Errorf("error %q at %q does not name the Appfile, its line and %q", last.Message, last.Position, tc.want)
			}
			time.Sleep(time.Second) // nothing may be applied meanwhile
			if got := marker(); got != "v1" {
				t.Errorf("marker = %q: part of the app was applied", got)
			}
		})
	}
	outputs["Events"] = func() string {
		evs, err := cs.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(evs)
		return string(js)
	}()

	repo.commit("v3", map[string]string{"shop/Appfile": encryptAppfile(t, k, secretPropsAppfile(ns, ns, password, token, "v3"))})
	time.Sleep(1100 * time.Millisecond)
	r.hook(t)
	eventually(t, 60*time.Second, "v3 applied", func() (bool, string) {
		return marker() == "v3" && secretValue(t, cs, ns, "db", "password") == password, marker()
	})
	if _, err := cs.CoreV1().Secrets(ns).Get(t.Context(), "db", metav1.GetOptions{}); apierrors.IsNotFound(err) {
		t.Fatal("the Secret is gone")
	}
	outputs["log"] = logs.String()
	if !strings.Contains(outputs["log"], "level=DEBUG") || !strings.Contains(outputs["log"], "sops MAC mismatch") || !strings.Contains(outputs["Events"], "Deployed") {
		t.Error("the log holds no debug line or failure, or there are no Events: the search would prove less")
	}
	for name, out := range outputs {
		for _, v := range []string{canary, base64.StdEncoding.EncodeToString([]byte(password)), base64.StdEncoding.EncodeToString([]byte(token))} {
			if i := strings.Index(out, v); i >= 0 {
				t.Errorf("a canary appears in the %s: ...%s...", name, out[max(0, i-80):min(len(out), i+40)])
			}
		}
	}
}
