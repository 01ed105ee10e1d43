package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/render"
	"github.com/carina-gitops/carina/render/sops/sopstest"
)

// Each source's renders get its own keys and chart credentials, and only
// those; a source without keys still decrypts (and fails on a
// ciphertext) rather than apply it encrypted.
func TestSourceSecretsPerSource(t *testing.T) {
	k, err := sopstest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile, pwFile := filepath.Join(dir, "keys.txt"), filepath.Join(dir, "pw")
	os.WriteFile(keyFile, []byte(k.Identity+"\n"), 0o600)
	os.WriteFile(pwFile, []byte("chart-pw"), 0o600)
	cfg := &config.Config{Sources: config.Sources{Apps: []config.Source{
		{Name: "a", Decryption: &config.Decryption{KeyFile: keyFile},
			HelmRepositories: []config.HelmRepository{{URL: "https://charts.example.com/a", Auth: config.Auth{Username: "u", PasswordFile: pwFile}}}},
		{Name: "b"},
		{Name: "c", Decryption: &config.Decryption{Secret: &config.SecretKey{Namespace: "keys", Name: "age"}}},
	}}, LeaderElection: config.LeaderElection{Cluster: "home"}}
	var asked []string
	read := func(_ context.Context, cluster, ns, name, key string) ([]byte, error) {
		asked = append(asked, cluster+"/"+ns+"/"+name+"/"+key)
		return nil, errors.New("secret keys/age not found")
	}
	s := newSourceSecrets(cfg, read, time.Now)

	a, err := s.renderOptions(t.Context(), "a", render.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if a.Decryption == nil || a.Decryption.Keys.Len() != 1 {
		t.Errorf("source a: decryption %+v", a.Decryption)
	}
	if c := a.Engines.Helm.Credentials; len(c) != 1 || c[0].URL != "https://charts.example.com/a" || c[0].Password != "chart-pw" {
		t.Errorf("source a: credentials %v", c)
	}
	b, err := s.renderOptions(t.Context(), "b", render.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if b.Decryption == nil || b.Decryption.Keys.Len() != 0 || len(b.Engines.Helm.Credentials) != 0 {
		t.Errorf("source b got another source's secrets: %+v %v", b.Decryption, b.Engines.Helm.Credentials)
	}
	_, err = s.renderOptions(t.Context(), "c", render.DefaultOptions())
	if !errors.Is(err, errSourceSecrets) {
		t.Errorf("unreadable Secret: %v", err)
	}
	if len(asked) != 1 || asked[0] != "home/keys/age/age.agekey" {
		t.Errorf("Secrets read: %v (want the leader-election cluster's keys/age, key age.agekey)", asked)
	}
}
