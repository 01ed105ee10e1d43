package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carina-gitops/carina/render/sops/sopstest"
)

const decryptCanary = "canary-cli-3c9e71"

// sopsApp writes an application whose manifests component reads a
// SOPS-encrypted Secret, and returns its directory and key.
func sopsApp(t *testing.T) (string, sopstest.Key) {
	t.Helper()
	key, err := sopstest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	plain := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: " + decryptCanary + "\n"
	enc, err := sopstest.Encrypt("secret.yaml", []byte(plain), "^(data|stringData)$", key.Recipient)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	app := `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: vault
spec:
  components:
    - name: db
      type: manifests
      properties:
        path: secrets
`
	for name, data := range map[string][]byte{"app.yaml": []byte(app), "secrets/secret.yaml": enc} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, key
}

func TestRenderDecrypt(t *testing.T) {
	dir, key := sopsApp(t)
	keyFile := filepath.Join(t.TempDir(), "keys.txt")
	if err := os.WriteFile(keyFile, []byte(key.Identity+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	out, err := runCarina(t, "render", dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, decryptCanary) || !strings.Contains(out, "ENC[AES256_GCM") {
		t.Fatalf("render without --decrypt is not encrypted:\n%s", out)
	}

	out, err = runCarina(t, "render", dir, "--decrypt", "--age-key-file", keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, decryptCanary) || strings.Contains(out, "ENC[") || strings.Contains(out, "sops:") {
		t.Fatalf("render --decrypt:\n%s", out)
	}

	other, _ := sopstest.NewKey()
	if err := os.WriteFile(keyFile, []byte(other.Identity), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = runCarina(t, "render", dir, "--decrypt", "--age-key-file", keyFile)
	if err == nil || !strings.Contains(err.Error(), "secrets/secret.yaml:") || strings.Contains(err.Error(), other.Identity) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := runCarina(t, "render", dir, "--decrypt"); err == nil || !strings.Contains(err.Error(), "needs a key") {
		t.Fatalf("no key: %v", err)
	}
}

// carina diff and apply render like the agent: a SOPS value without
// --decrypt is an error that says how to decrypt it (applied as it is
// it would reach the cluster encrypted), before any cluster is asked.
func TestDiffAndApplyNeedDecrypt(t *testing.T) {
	dir, _ := sopsApp(t)
	for _, verb := range []string{"diff", "apply"} {
		_, err := runCarina(t, verb, dir, "--kubeconfig", filepath.Join(t.TempDir(), "none"))
		if err == nil || !strings.Contains(err.Error(), "sops file has no configured key") || !strings.Contains(err.Error(), "--decrypt") {
			t.Errorf("carina %s without --decrypt: %v", verb, err)
		}
	}
}
