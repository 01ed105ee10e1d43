package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carina-gitops/carina/render/sops/sopstest"
)

// fakeSecrets is a SecretReader over a map, for this pure-logic test.
func fakeSecrets(m map[string]string) SecretReader {
	return func(_ context.Context, cluster, ns, name, key string) ([]byte, error) {
		v, ok := m[cluster+"/"+ns+"/"+name+"/"+key]
		if !ok {
			return nil, errors.New("not found")
		}
		return []byte(v), nil
	}
}

func TestDecryptionKeysAndHelmCredentialsFake(t *testing.T) {
	k, err := sopstest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "keys.txt")
	pwFile := filepath.Join(dir, "pw")
	for f, v := range map[string]string{keyFile: k.Identity + "\n", pwFile: "chart-pw\n"} {
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	read := fakeSecrets(map[string]string{
		"home/carina-system/sops-age/age.agekey": k.Identity,
		"home/carina-system/reg/username":        "robot",
		"home/carina-system/reg/password":        "reg-pw",
	})
	for _, s := range []Source{
		{Name: "a", Decryption: &Decryption{KeyFile: keyFile}},
		{Name: "b", Decryption: &Decryption{Secret: &SecretKey{Namespace: "carina-system", Name: "sops-age"}}},
	} {
		keys, err := s.DecryptionKeys(t.Context(), read, "home")
		if err != nil || keys.Len() != 1 {
			t.Fatalf("%s: keys %v, err %v", s.Name, keys, err)
		}
	}
	bad := Source{Name: "c", Decryption: &Decryption{Secret: &SecretKey{Namespace: "x", Name: "missing"}}}
	if _, err := bad.DecryptionKeys(t.Context(), read, "home"); err == nil {
		t.Fatal("missing Secret: no error")
	}

	s := Source{Name: "shop", HelmRepositories: []HelmRepository{
		{URL: "https://charts.example.com/p", Auth: Auth{Username: "u", PasswordFile: pwFile}},
		{URL: "oci://reg.example.com/charts", Secret: &SecretName{Namespace: "carina-system", Name: "reg"}},
	}}
	creds, err := s.HelmCredentials(t.Context(), read, "home")
	if err != nil {
		t.Fatal(err)
	}
	if len(creds) != 2 || creds[0].Password != "chart-pw" || creds[1].Username != "robot" || creds[1].Password != "reg-pw" {
		t.Fatalf("credentials %v", creds)
	}
	s.HelmRepositories[1].Secret.Name = "absent"
	_, err = s.HelmCredentials(t.Context(), read, "home")
	if err == nil || !strings.Contains(err.Error(), "helmRepositories[1]") || strings.Contains(err.Error(), "chart-pw") {
		t.Fatalf("absent Secret: %v", err)
	}
}
