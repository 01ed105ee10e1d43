package sops_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/carina-gitops/carina/render/sops"
	"github.com/carina-gitops/carina/render/sops/sopstest"
)

const appfilePlain = `name: shop
services:
  db:
    type: k8s-objects
    properties:
      password: ` + canary + `
      replicas: 2
`

// cipherOf returns the ciphertext an encrypted file holds for key.
func cipherOf(t *testing.T, enc []byte, key string) string {
	t.Helper()
	for _, line := range strings.Split(string(enc), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+": "); ok && strings.HasPrefix(v, "ENC[") {
			return v
		}
	}
	t.Fatalf("no ciphertext for %s in:\n%s", key, enc)
	return ""
}

// TestAppfileValuesDecryptedWhereTheyLand: a property encrypted in an
// Appfile (no .yaml extension) reaches the rendered objects as
// ciphertext, whole, inside a longer string, or base64-encoded by a
// template (at each of base64's three alignments); all are decrypted in
// place and recorded as decrypted fields.
func TestAppfileValuesDecryptedWhereTheyLand(t *testing.T) {
	k, err := sopstest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := sopstest.Encrypt("Appfile", []byte(appfilePlain), "^password$", k.Recipient)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(enc, []byte(canary)) || !bytes.Contains(enc, []byte("replicas: 2")) {
		t.Fatalf("encrypted_regex did not leave the rest readable:\n%s", enc)
	}
	c := cipherOf(t, enc, "password")
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	secret := map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "db"},
		"stringData": map[string]any{"password": c, "dsn": "postgres://app:" + c + "@db"},
		"data":       map[string]any{"a": b64(c), "b": b64("x" + c), "c": b64("xy:" + c + "\n")}}
	fields, err := decryptor(t, k).Objects(t.Context(), fstest.MapFS{"apps/shop/Appfile": {Data: enc}}, []map[string]any{secret}, "apps/shop/Appfile")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"password": canary, "dsn": "postgres://app:" + canary + "@db"}
	if d := cmp.Diff(want, secret["stringData"]); d != "" {
		t.Errorf("stringData (-want +got):\n%s", d)
	}
	wantData := map[string]any{"a": b64(canary), "b": b64("x" + canary), "c": b64("xy:" + canary + "\n")}
	if d := cmp.Diff(wantData, secret["data"]); d != "" {
		t.Errorf("data (-want +got):\n%s", d)
	}
	if len(fields) != 5 {
		t.Errorf("decrypted fields %v, want 5", fields)
	}
}

// TestAppfileVerifiedWhole: the application's own SOPS file is verified
// even when no rendered value comes from it: a file changed after it was
// encrypted (a readable value edited) fails its MAC, and one for another
// key fails with ErrNoKey, both at the file's line; a plain Appfile and
// a missing file cost nothing.
func TestAppfileVerifiedWhole(t *testing.T) {
	k, other := mustKey(t), mustKey(t)
	enc, err := sopstest.Encrypt("Appfile", []byte(appfilePlain), "^password$", k.Recipient)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := sopstest.Encrypt("Appfile", []byte(appfilePlain), "^password$", other.Recipient)
	if err != nil {
		t.Fatal(err)
	}
	plainObj := func() []map[string]any {
		return []map[string]any{{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "plain"}}}
	}
	for _, tc := range []struct {
		name string
		file []byte
		want error
	}{
		{"tampered", bytes.Replace(enc, []byte("replicas: 2"), []byte("replicas: 9"), 1), sops.ErrMAC},
		{"other key", foreign, sops.ErrNoKey},
		{"good", enc, nil},
		{"plain", []byte(appfilePlain), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decryptor(t, k).Objects(t.Context(), fstest.MapFS{"shop/Appfile": {Data: tc.file}}, plainObj(), "shop/Appfile", "shop/missing")
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var se *sops.Error
			if err != nil && (!errors.As(err, &se) || se.File != "shop/Appfile" || se.Line == 0 || strings.Contains(err.Error(), canary)) {
				t.Errorf("error %q does not name the file and line, or holds the value", err)
			}
		})
	}
}

func mustKey(t *testing.T) sopstest.Key {
	t.Helper()
	k, err := sopstest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
