package render

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/capabilities"
	"github.com/carina-gitops/carina/render/sops"
	"github.com/carina-gitops/carina/render/sops/sopstest"
)

// b64SecretDef is a component that puts its password in a Secret three
// ways: base64-encoded in data, inside a string, and as it is.
const b64SecretDef = `import "encoding/base64"

"b64-secret": {
	type: "component"
	attributes: workload: definition: {apiVersion: "v1", kind: "Secret"}
}
template: {
	output: {
		apiVersion: "v1"
		kind:       "Secret"
		metadata: name: context.name
		data: password: base64.Encode(null, parameter.password)
		stringData: {
			dsn:   "postgres://app:\(parameter.password)@db"
			plain: parameter.password
		}
	}
	parameter: password: string
}
`

const appfileCanary = "appfile-canary-2d7c41"

// encryptedAppfileRepo writes a repository whose Appfile encrypts one
// property (encrypted_regex ^password$; the rest stays readable) and
// whose definitions module base64-encodes it; tamper edits a readable
// value after encryption.
func encryptedAppfileRepo(t *testing.T, tamper bool) (*appfile.Application, *capabilities.Registry, DiskFS, sopstest.Key) {
	t.Helper()
	key, err := sopstest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	plain := "name: shop\nservices:\n  db:\n    type: b64-secret\n    password: " + appfileCanary + "\nenvironments:\n  prod:\n    namespace: shop-prod\n"
	enc, err := sopstest.Encrypt("Appfile", []byte(plain), "^password$", key.Recipient)
	if err != nil {
		t.Fatal(err)
	}
	if tamper {
		enc = bytes.Replace(enc, []byte("namespace: shop-prod"), []byte("namespace: shop-dev"), 1)
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{"app/Appfile": enc, "defs/b64-secret.cue": []byte(b64SecretDef)} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	repo := openDisk(dir).(DiskFS)
	apps, err := appfile.Load(repo, "app")
	if err != nil {
		t.Fatalf("the encrypted Appfile does not load: %v", err)
	}
	reg := testRegistry(t, capabilities.Module{Source: capabilities.SourceApp, FS: repo, Dir: "defs"})
	return apps[0], reg, repo, key
}

// TestEncryptedAppfilePropertiesDecryptedAfterRendering: the template
// sees the property's ciphertext; the worker decrypts it where it lands
// (base64-encoded, inside a string, as it is) with the source's key.
// Without decryption the render keeps the ciphertext; the digest is the
// encrypted render's either way.
func TestEncryptedAppfilePropertiesDecryptedAfterRendering(t *testing.T) {
	app, reg, repo, key := encryptedAppfileRepo(t, false)
	envs, err := appfile.Environments(app)
	if err != nil {
		t.Fatal(err)
	}
	iso := isolated(t)
	enc, err := iso.Render(t.Context(), app, envs[0], reg, repo, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(enc); bytes.Contains(b, []byte(appfileCanary)) || !bytes.Contains(b, []byte("ENC[AES256_GCM")) {
		t.Fatalf("render without decryption is not encrypted:\n%s", b)
	}
	opts := DefaultOptions()
	opts.Decryption = decryption(t, key)
	res, err := iso.Render(t.Context(), app, envs[0], reg, repo, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj := res.Objects[0].Object.Object
	data, strs := obj["data"].(map[string]any), obj["stringData"].(map[string]any)
	if got, _ := base64.StdEncoding.DecodeString(data["password"].(string)); string(got) != appfileCanary {
		t.Errorf("data.password decodes to %q", got)
	}
	if strs["plain"] != appfileCanary || strs["dsn"] != "postgres://app:"+appfileCanary+"@db" {
		t.Errorf("stringData %v", strs)
	}
	if res.Digest != enc.Digest || len(res.Decrypted) != 3 {
		t.Errorf("digest %s (encrypted %s), decrypted fields %v", res.Digest, enc.Digest, res.Decrypted)
	}
	masked := sops.NewMasker(res.Decrypted).Object(0, obj)
	if b, _ := json.Marshal(masked); bytes.Contains(b, []byte(appfileCanary)) || bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString([]byte(appfileCanary)))) {
		t.Errorf("masked object holds the canary: %s", b)
	}
}

// TestEncryptedAppfileFailures: an Appfile edited after it was encrypted
// (a readable value changed) fails its MAC, and a key the source does
// not have fails too, both with the Appfile's position and no render.
func TestEncryptedAppfileFailures(t *testing.T) {
	iso := isolated(t)
	other, _ := sopstest.NewKey()
	for _, tc := range []struct {
		name          string
		tamper, other bool
		want          error
	}{
		{"mac mismatch", true, false, sops.ErrMAC},
		{"key not configured", false, true, sops.ErrNoKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app, reg, repo, key := encryptedAppfileRepo(t, tc.tamper)
			if tc.other {
				key = other
			}
			envs, err := appfile.Environments(app)
			if err != nil {
				t.Fatal(err)
			}
			opts := DefaultOptions()
			opts.Decryption = decryption(t, key)
			res, err := iso.Render(t.Context(), app, envs[0], reg, repo, opts)
			if err == nil || res != nil {
				t.Fatalf("rendered %v, err %v", res, err)
			}
			if !strings.Contains(err.Error(), "app/Appfile:") || !strings.Contains(err.Error(), tc.want.Error()) || strings.Contains(err.Error(), appfileCanary) {
				t.Fatalf("error %q: want the Appfile's position, %q and no plaintext", err, tc.want)
			}
		})
	}
}
