package sops_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/carina-gitops/carina/render/sops"
	"github.com/carina-gitops/carina/render/sops/sopstest"
)

const canary = "canary-7f3a9c21-plaintext"

const secretYAML = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: shop
type: Opaque
stringData:
  password: ` + canary + `
  port: "5432"
`

// fixture encrypts secretYAML for a new key and returns the key and file.
func fixture(t *testing.T, name string, plain string) (sopstest.Key, []byte) {
	t.Helper()
	k, err := sopstest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := sopstest.Encrypt(name, []byte(plain), "^(data|stringData)$", k.Recipient)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(enc, []byte(canary)) {
		t.Fatal("encrypted file holds the plaintext")
	}
	return k, enc
}

func decryptor(t *testing.T, k sopstest.Key) *sops.Decryptor {
	t.Helper()
	keys, err := sops.ParseKeys([]byte("# test key\n" + k.Identity + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return sops.New(keys, sops.DefaultOptions())
}

// rendered decodes a file the way the manifests engine does, then changes
// it the way a render does (a label, a namespace).
func rendered(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal(data, &obj); err != nil {
		t.Fatal(err)
	}
	md := obj["metadata"].(map[string]any)
	md["labels"] = map[string]any{"app.carina.dev/name": "shop"}
	md["namespace"] = "shop-prod"
	return obj
}

func TestDecryptFile(t *testing.T) {
	for _, name := range []string{"secret.enc.yaml", "secret.enc.json"} {
		t.Run(name, func(t *testing.T) {
			plain := secretYAML
			if strings.HasSuffix(name, ".json") {
				b, err := yaml.YAMLToJSON([]byte(secretYAML))
				if err != nil {
					t.Fatal(err)
				}
				plain = string(b)
			}
			k, enc := fixture(t, name, plain)
			f, err := decryptor(t, k).DecryptFile(name, enc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(f.Plain, []byte(canary)) {
				t.Fatalf("plaintext misses the value:\n%s", f.Plain)
			}
			if bytes.Contains(f.Plain, []byte("ENC[")) {
				t.Fatalf("plaintext still holds ciphertext:\n%s", f.Plain)
			}
		})
	}
}

func TestObjects(t *testing.T) {
	k, enc := fixture(t, "secret.yaml", secretYAML)
	fsys := fstest.MapFS{
		"apps/shop/secret.yaml": {Data: enc},
		"apps/shop/other.yaml":  {Data: []byte("kind: ConfigMap\n")},
	}
	secret := rendered(t, enc)
	cm := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "plain"},
		"data": map[string]any{"dsn": "postgres://app:" + secret["stringData"].(map[string]any)["password"].(string) + "@db"}}
	objs := []map[string]any{cm, secret}
	fields, err := decryptor(t, k).Objects(t.Context(), fsys, objs)
	if err != nil {
		t.Fatal(err)
	}
	want := []sops.Field{
		{Object: 0, Path: []string{"data", "dsn"}},
		{Object: 1, Path: []string{"stringData", "password"}},
		{Object: 1, Path: []string{"stringData", "port"}},
	}
	if d := cmp.Diff(want, fields); d != "" {
		t.Errorf("fields (-want +got):\n%s", d)
	}
	sd := secret["stringData"].(map[string]any)
	if sd["password"] != canary || sd["port"] != "5432" {
		t.Errorf("secret after decryption: %v", sd)
	}
	if _, ok := secret["sops"]; ok {
		t.Error("sops metadata left in the object")
	}
	if got := cm["data"].(map[string]any)["dsn"]; got != "postgres://app:"+canary+"@db" {
		t.Errorf("embedded value: %v", got)
	}

	// The masker keeps the plaintext out of copies for diff and inventory.
	m := sops.NewMasker(fields)
	masked, _ := yaml.Marshal([]any{m.Object(0, cm), m.Object(1, secret)})
	if bytes.Contains(masked, []byte(canary)) {
		t.Errorf("masked objects hold the canary:\n%s", masked)
	}
	if sd["password"] != canary {
		t.Error("masking changed the original")
	}
	msg := sops.Redact("apply failed: value "+canary+" rejected", m.Plaintexts(objs))
	if strings.Contains(msg, canary) {
		t.Errorf("redacted text holds the canary: %s", msg)
	}
}

func TestObjectsNoCiphertextReadsNothing(t *testing.T) {
	objs := []map[string]any{{"kind": "ConfigMap", "data": map[string]any{"a": "b"}}}
	fields, err := sops.New(nil, sops.Options{}).Objects(t.Context(), failFS{}, objs)
	if err != nil || fields != nil {
		t.Fatalf("fields %v, err %v", fields, err)
	}
}

// failFS fails every read: a render without ciphertext must not search.
type failFS struct{}

func (failFS) Open(string) (fs.File, error) { return nil, errors.New("read") }

func TestTampered(t *testing.T) {
	k, enc := fixture(t, "secret.yaml", secretYAML)
	other, _ := fixture(t, "secret.yaml", secretYAML)
	tampered := bytes.Replace(enc, []byte("name: db"), []byte("name: dc"), 1)
	var mac, ciphertext []byte
	for _, l := range bytes.Split(enc, []byte("\n")) {
		if bytes.Contains(l, []byte("password: ENC[")) {
			ciphertext = bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(l), []byte("password:")))
		}
		if bytes.Contains(l, []byte("mac: ENC[")) {
			mac = l
		}
	}
	if mac == nil || ciphertext == nil {
		t.Fatalf("fixture has no mac or ciphertext:\n%s", enc)
	}
	// A ciphertext moved to another key keeps its tag but not its path.
	swapped := bytes.Replace(enc, []byte(`port: ENC[`), []byte(`port: `+string(ciphertext)+"\n    x: ENC["), 1)
	for _, tc := range []struct {
		name string
		keys sopstest.Key
		file []byte
		want error
	}{
		{"mac mismatch", k, tampered, sops.ErrMAC},
		{"value moved", k, swapped, sops.ErrMAC},
		{"key not configured", other, enc, sops.ErrNoKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := rendered(t, enc)
			before, _ := yaml.Marshal(obj)
			_, err := decryptor(t, tc.keys).Objects(t.Context(), fstest.MapFS{"apps/shop/secret.yaml": {Data: tc.file}}, []map[string]any{obj})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var se *sops.Error
			if !errors.As(err, &se) || se.File != "apps/shop/secret.yaml" || se.Line == 0 {
				t.Fatalf("error has no file position: %#v", err)
			}
			if !strings.HasPrefix(err.Error(), "apps/shop/secret.yaml:") {
				t.Errorf("error text %q does not start with file:line", err)
			}
			if strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), tc.keys.Identity) {
				t.Errorf("error holds a secret: %v", err)
			}
			if after, _ := yaml.Marshal(obj); !bytes.Equal(before, after) {
				t.Error("a failed decryption changed the object")
			}
		})
	}
}

func TestUnknownValue(t *testing.T) {
	k, enc := fixture(t, "secret.yaml", secretYAML)
	obj := rendered(t, enc)
	_, err := decryptor(t, k).Objects(t.Context(), fstest.MapFS{"README.md": {Data: []byte("hi")}}, []map[string]any{obj})
	if !errors.Is(err, sops.ErrUnknownValue) {
		t.Fatalf("err = %v", err)
	}
	if !strings.HasPrefix(err.Error(), "Secret/shop-prod/db field ") {
		t.Errorf("error %q does not name the object and field", err)
	}
}

func TestParseKeysNeverQuotes(t *testing.T) {
	for _, in := range []string{"", "# only a comment\n", "AGE-SECRET-KEY-1NOTAKEY\n", "hunter2-secret-line\n"} {
		_, err := sops.ParseKeys([]byte(in))
		if err == nil {
			t.Fatalf("%q: no error", in)
		}
		if s := strings.TrimSpace(in); s != "" && !strings.HasPrefix(s, "#") && strings.Contains(err.Error(), s) {
			t.Errorf("error quotes the key: %v", err)
		}
	}
	k, _ := sopstest.NewKey()
	keys, err := sops.ParseKeys([]byte(k.Identity))
	if err != nil {
		t.Fatal(err)
	}
	if s := keys.String(); strings.Contains(s, "AGE-SECRET") {
		t.Errorf("String prints the key: %s", s)
	}
}

func TestHashData(t *testing.T) {
	a := map[string]any{"password": "x", "user": "y"}
	b := map[string]any{"user": "y", "password": "x"}
	c := map[string]any{"user": "y", "password": "z"}
	if !sops.EqualData(a, b) || sops.EqualData(a, c) {
		t.Error("HashData does not compare by content")
	}
	if h := sops.HashData(a); !strings.HasPrefix(h, "sha256:") || strings.Contains(h, "x") && len(h) < 20 {
		t.Errorf("hash %q", h)
	}
}

// Redact masks a value in every form an error may quote it: as it is,
// base64-encoded (a Secret's data), and decoded (a data value that was
// base64 in the file).
func TestRedactForms(t *testing.T) {
	enc := base64.StdEncoding.EncodeToString([]byte(canary))
	for _, tc := range []struct{ name, text string }{
		{"plain", "invalid value " + canary},
		{"base64 of a stringData value", "data.password: " + enc},
		{"decoded data value", "value " + canary + " rejected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain := []string{canary}
			if tc.name == "decoded data value" {
				plain = []string{enc}
			}
			got := sops.Redact(tc.text, plain)
			if strings.Contains(got, canary) || strings.Contains(got, enc) || !strings.Contains(got, sops.Mask) {
				t.Errorf("Redact(%q) = %q", tc.text, got)
			}
		})
	}
}
