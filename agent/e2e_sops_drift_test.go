package agent

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/inventory"
)

// sopsDriftAppfile deploys the manifests under secrets/ to prod; the drift
// policy only reports the Secret api.
func sopsDriftAppfile(app, ns string) string {
	return fmt.Sprintf(`name: %[1]s
services:
  db:
    type: manifests
    path: secrets
policies:
  - name: drift
    type: drift
    properties:
      rules:
        - {selector: {resourceNames: [api]}, mode: report}
environments:
  prod:
    clusters: [local]
    namespace: %[2]s
`, app, ns)
}

// editSecret sets one key of a Secret as `kubectl edit` does.
func editSecret(t *testing.T, cs kubernetes.Interface, ns, name, key, value string) {
	t.Helper()
	s, err := cs.CoreV1().Secrets(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Data[key] = []byte(value)
	if _, err := cs.CoreV1().Secrets(ns).Update(t.Context(), s, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
}

// TestSOPSSecretDriftByHash: the agent keeps no decrypted value with
// the applied set; a `kubectl edit` of a SOPS-decrypted Secret's value
// is found by hash, named by its key, and corrected back to the
// decrypted value by rendering the app again; a report-mode Secret's
// drifted key shows in the status API and an Event. Neither the
// decrypted values nor the edited ones appear in the agent's log at
// debug level, /metrics, the status API, the Events or the inventory.
func TestSOPSSecretDriftByHash(t *testing.T) {
	_, cs := needCluster(t)
	ns, keyNS := testNS("sops-drift"), testNS("sops-drift-keys")
	createNamespaces(t, cs, ns, keyNS)
	k := newAgeKey(t)
	if _, err := cs.CoreV1().Secrets(keyNS).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "sops-age"}, Data: map[string][]byte{"age.agekey": []byte(k.Identity + "\n")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	canary := newCanary("drft")
	password, token := canary+"pw", canary+"tok"
	edited, editedToken := canary+"edited", canary+"edtok"
	regex := "^(data|stringData)$"
	repo := newGitRepo(t)
	repo.commit("encrypted secrets", map[string]string{
		"shop/Appfile":             sopsDriftAppfile(ns, ns),
		"shop/secrets/secret.yaml": encryptFile(t, k, "secret.yaml", dbSecret(password), regex),
		"shop/secrets/api.yaml": encryptFile(t, k, "api.yaml",
			"apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\nstringData:\n  token: "+token+"\n", regex),
	})
	_, cfg := agentConfigSources(t, fmt.Sprintf(
		"apps: [{name: apps, url: %q, interval: 1h, decryption: {provider: sops, secret: {namespace: %s, name: sops-age}}}]",
		repo.url(), keyNS), "", testCluster.Kubeconfig(), "127.0.0.1:0", "")
	var logs lockedBuffer
	r := startAgentOn(t, cfg, nil, &logs)
	eventually(t, 90*time.Second, "the decrypted Secrets applied and healthy", func() (bool, string) {
		st, err := r.env(ns, "prod")
		got := secretValue(t, cs, ns, "db", "password")
		return err == nil && st.Health == api.HealthHealthy && got == password && secretValue(t, cs, ns, "api", "token") == token,
			fmt.Sprintf("password %q, %v %+v", got, err, st.Health)
	})

	// What the agent keeps of the applied set holds no Secret value.
	kept := r.a.store.view(ns, "prod").applied.set
	if kept == nil || !kept.Withheld() {
		t.Fatalf("the kept set %v is not withheld", kept)
	}
	js, _ := json.Marshal(kept.Objects)
	for _, v := range []string{canary, base64.StdEncoding.EncodeToString([]byte(password))} {
		if strings.Contains(string(js), v) {
			t.Errorf("the applied set the agent keeps holds a decrypted value")
		}
	}

	// A kubectl edit of the value: found by hash, corrected by a render.
	renders := r.a.reconciler.renders.Load()
	t0 := time.Now()
	editSecret(t, cs, ns, "db", "password", edited)
	eventually(t, 30*time.Second, "the edited value corrected", func() (bool, string) {
		got := secretValue(t, cs, ns, "db", "password")
		return got == password, "password is not the decrypted value"
	})
	t.Logf("Secret value edit undone after %s", time.Since(t0).Round(time.Millisecond))
	if n := r.a.reconciler.renders.Load(); n <= renders {
		t.Errorf("renders %d → %d: the correction did not render the Secret again", renders, n)
	}
	secretLbl := fmt.Sprintf(`app="%s",cluster="local",env="prod",kind="Secret"`, ns)
	eventually(t, 10*time.Second, "drift metrics and the correction Event", func() (bool, string) {
		found := metricValue(t, r, "carina_drift_detected_total", secretLbl+`,reason="modified"`)
		fixed := metricValue(t, r, "carina_drift_corrected_total", secretLbl)
		evs, err := cs.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var corrected bool
		for _, e := range evs.Items {
			corrected = corrected || e.Reason == "DriftCorrected" && strings.Contains(e.Message, "Secret/"+ns+"/db configured")
		}
		return found >= 1 && fixed >= 1 && corrected, fmt.Sprintf("detected %v corrected %v event %v", found, fixed, corrected)
	})
	if !strings.Contains(logs.String(), "object=Secret/"+ns+"/db reason=modified mode=correct keys=password") {
		t.Errorf("the log does not name the drifted key:\n%s", grepLines(logs.String(), "msg=drift"))
	}

	// Report mode: the drifted key shows in status and an Event; the
	// value stays as edited.
	editSecret(t, cs, ns, "api", "token", editedToken)
	eventually(t, 20*time.Second, "api reported with its key", func() (bool, string) {
		st, err := r.env(ns, "prod")
		if err != nil {
			return false, err.Error()
		}
		d := driftOf(st, "api")
		return d != nil && d.State == api.DriftReported && strings.Join(d.Keys, ",") == "token", fmt.Sprintf("%+v", st.Drift)
	})
	eventually(t, 10*time.Second, "the DriftDetected Event", func() (bool, string) {
		evs, err := cs.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var msgs []string
		for _, e := range evs.Items {
			if e.Reason == "DriftDetected" {
				msgs = append(msgs, e.Message)
			}
		}
		return strings.Contains(strings.Join(msgs, "\n"), "Secret/"+ns+"/api modified in keys token (reported)"), strings.Join(msgs, "\n")
	})
	if got := secretValue(t, cs, ns, "api", "token"); got != editedToken {
		t.Error("a report-mode Secret was changed back")
	}

	outputs := map[string]string{"log": logs.String(), "/metrics": r.metrics(t)}
	st, err := r.client.App(t.Context(), ns)
	if err != nil {
		t.Fatal(err)
	}
	js, _ = json.Marshal(st)
	outputs["status API"] = string(js)
	evs, err := cs.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{})
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
	if !strings.Contains(outputs["log"], "level=DEBUG") || !strings.Contains(outputs["status API"], `"keys":["token"]`) {
		t.Error("the outputs searched lack debug lines or the drift: the search would prove less")
	}
	for name, out := range outputs {
		for _, v := range []string{canary, base64.StdEncoding.EncodeToString([]byte(password)), base64.StdEncoding.EncodeToString([]byte(edited)),
			base64.StdEncoding.EncodeToString([]byte(token)), base64.StdEncoding.EncodeToString([]byte(editedToken))} {
			if i := strings.Index(out, v); i >= 0 {
				t.Errorf("a canary appears in the %s: ...%s...", name, out[max(0, i-80):min(len(out), i+40)])
			}
		}
	}
}

// gatedSecretAppfile is shopAppfile's workflow (prod waits for an
// approval) with a Secret whose value is the greeting.
func gatedSecretAppfile(app, ns, greeting string) string {
	return fmt.Sprintf(`name: %[3]s
services:
  web:
    type: k8s-objects
    objects:
      - {apiVersion: v1, kind: Secret, metadata: {name: web}, stringData: {greeting: %[2]s}}
environments:
  staging:
    clusters: [local]
    namespace: %[1]s-staging
  prod:
    clusters: [local]
    namespace: %[1]s-prod
    approval: true
`, ns, greeting, app)
}

// TestSecretDriftCorrectedWhileWaitingAtAGate: prod holds v1 of a
// Secret while v2 waits at its approval. An edit of prod's Secret value
// is undone back to v1 (what prod applied), which the agent no longer
// holds: it renders prod again at the applied commit.
func TestSecretDriftCorrectedWhileWaitingAtAGate(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("sgate")
	app, prod := ns+"-shop", ns+"-prod"
	createNamespaces(t, cs, ns+"-staging", prod)
	repo := newGitRepo(t)
	c1 := repo.commit("v1", map[string]string{app + "/Appfile": gatedSecretAppfile(app, ns, "v1")})
	r := startAgent(t, agentConfig(t, repo.url(), "", ""))
	waitAtApproval(t, r, app, c1)
	if _, err := r.client.Resume(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "prod at v1", func() (bool, string) {
		got := secretValue(t, cs, prod, "web", "greeting")
		return got == "v1", got
	})
	c2 := repo.commit("v2", map[string]string{app + "/Appfile": gatedSecretAppfile(app, ns, "v2")})
	r.hook(t)
	waitAtApproval(t, r, app, c2)
	eventually(t, 30*time.Second, "staging at v2", func() (bool, string) {
		got := secretValue(t, cs, ns+"-staging", "web", "greeting")
		return got == "v2", got
	})
	editSecret(t, cs, prod, "web", "greeting", "by hand")
	eventually(t, 15*time.Second, "prod's Secret undone to v1 while v2 waits", func() (bool, string) {
		got := secretValue(t, cs, prod, "web", "greeting")
		return got == "v1", got
	})
	if st := mustEnv(t, r, app, "prod"); st.LastError != nil || !strings.Contains(st.Revision, c1[:12]) {
		t.Errorf("prod after the correction: revision %s, error %+v", st.Revision, st.LastError)
	}
}
