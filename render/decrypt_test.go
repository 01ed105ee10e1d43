package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/render/sops"
	"github.com/carina-gitops/carina/render/sops/sopstest"
)

const sopsCanary = "canary-render-5b1e0d"

// sopsRepo writes a repository with an encrypted Secret for a manifests
// component, and returns it with the key.
func sopsRepo(t *testing.T, tamper bool) (fsys DiskFS, key sopstest.Key) {
	t.Helper()
	key, err := sopstest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	plain := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: " + sopsCanary + "\n"
	enc, err := sopstest.Encrypt("secret.yaml", []byte(plain), "^(data|stringData)$", key.Recipient)
	if err != nil {
		t.Fatal(err)
	}
	if tamper {
		enc = bytes.Replace(enc, []byte("name: db"), []byte("name: dx"), 1)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "app", "secrets"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app", "secrets", "secret.yaml"), enc, 0o644); err != nil {
		t.Fatal(err)
	}
	return openDisk(dir).(DiskFS), key
}

func sopsApp() (*appfile.Application, appfile.Environment) {
	return &appfile.Application{Name: "shop", Dir: "app", Components: []appfile.Component{
		comp("db", "manifests", 4, map[string]any{"path": "secrets"}),
	}}, appfile.Environment{Name: "prod", Namespace: "shop-prod"}
}

func decryption(t *testing.T, k sopstest.Key) *Decryption {
	t.Helper()
	keys, err := sops.ParseKeys([]byte(k.Identity))
	if err != nil {
		t.Fatal(err)
	}
	return &Decryption{Keys: keys}
}

func TestIsolatedDecryptsAfterRendering(t *testing.T) {
	repo, key := sopsRepo(t, false)
	app, env := sopsApp()
	reg := testRegistry(t)
	iso := isolated(t)

	// Without Decryption the values stay encrypted (carina render).
	enc, err := iso.Render(t.Context(), app, env, reg, repo, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(enc); bytes.Contains(b, []byte(sopsCanary)) || !bytes.Contains(b, []byte("ENC[AES256_GCM")) {
		t.Fatalf("render without decryption is not encrypted:\n%s", b)
	}

	opts := DefaultOptions()
	opts.Decryption = decryption(t, key)
	res, err := iso.Render(t.Context(), app, env, reg, repo, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj := res.Objects[0].Object
	if got, _, _ := unstructuredString(obj.Object, "stringData", "password"); got != sopsCanary {
		t.Fatalf("password = %q", got)
	}
	if _, ok := obj.Object["sops"]; ok {
		t.Error("sops metadata applied")
	}
	if obj.GetLabels()[LabelApp] != "shop" || obj.GetNamespace() != "shop-prod" {
		t.Errorf("render changes lost: %v", obj.Object["metadata"])
	}
	if res.Digest != enc.Digest {
		t.Error("the digest depends on the plaintext")
	}
	if len(res.Decrypted) != 1 || strings.Join(res.Decrypted[0].Path, ".") != "stringData.password" {
		t.Errorf("decrypted fields %+v", res.Decrypted)
	}
	masked := sops.NewMasker(res.Decrypted).Object(0, obj.Object)
	if b, _ := json.Marshal(masked); bytes.Contains(b, []byte(sopsCanary)) {
		t.Errorf("masked object holds the canary: %s", b)
	}
}

func TestIsolatedDecryptionFailures(t *testing.T) {
	app, env := sopsApp()
	reg := testRegistry(t)
	iso := isolated(t)
	other, _ := sopstest.NewKey()
	for _, tc := range []struct {
		name   string
		tamper bool
		other  bool
		want   string
	}{
		{"mac mismatch", true, false, "app/secrets/secret.yaml:"},
		{"key not configured", false, true, "app/secrets/secret.yaml:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo, key := sopsRepo(t, tc.tamper)
			if tc.other {
				key = other
			}
			opts := DefaultOptions()
			opts.Decryption = decryption(t, key)
			res, err := iso.Render(t.Context(), app, env, reg, repo, opts)
			if err == nil || res != nil {
				t.Fatalf("rendered %v, err %v", res, err)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), sopsCanary) {
				t.Fatalf("error %q: want the file position and no plaintext", err)
			}
		})
	}
}

// In process, Decrypt does what the worker does and reports ErrMAC.
func TestDecryptInProcess(t *testing.T) {
	repo, key := sopsRepo(t, true)
	app, env := sopsApp()
	res, err := Render(t.Context(), app, env, testRegistry(t), repo, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := Decrypt(t.Context(), res, repo, decryption(t, key)); !errors.Is(err, sops.ErrMAC) {
		t.Fatalf("err = %v", err)
	}
}

func unstructuredString(obj map[string]any, path ...string) (string, bool, error) {
	var v any = obj
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return "", false, nil
		}
		v = m[p]
	}
	s, ok := v.(string)
	return s, ok, nil
}
