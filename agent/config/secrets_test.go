package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseOCISourceDecryptionAndHelmRepositories(t *testing.T) {
	in := `sources:
  apps:
    - name: shop
      url: oci://registry.example.com/acme/shop
      semver: ">=1.0.0"
      verify: {publicKeyFile: /etc/carina/cosign.pub}
      auth: {username: robot, passwordFile: /etc/carina/oci/password, caFile: /etc/carina/ca.pem}
      decryption: {provider: sops, keyFile: /etc/carina/age/keys.txt}
      helmRepositories:
        - url: https://charts.example.com/private
          auth: {username: u, passwordFile: /etc/carina/charts/password}
        - url: oci://registry.example.com/charts
          secret: {namespace: carina-system, name: chart-creds}
    - name: web
      url: https://git.example.com/acme/web.git
      decryption: {secret: {namespace: carina-system, name: sops-age, key: age.agekey}}
clusters: [{name: c1, inCluster: true}]
`
	c, err := Parse("f.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	shop := c.Sources.Apps[0]
	if !shop.IsOCI() || c.Sources.Apps[1].IsOCI() {
		t.Fatal("IsOCI")
	}
	ref := shop.OCIRef()
	if ref.SemVer != ">=1.0.0" || ref.Verify == nil || ref.Verify.PublicKeyFile != "/etc/carina/cosign.pub" || ref.Auth.CAFile != "/etc/carina/ca.pem" {
		t.Errorf("OCIRef = %+v", ref)
	}
	want := []HelmRepository{
		{URL: "https://charts.example.com/private", Auth: Auth{Username: "u", PasswordFile: "/etc/carina/charts/password"}},
		{URL: "oci://registry.example.com/charts", Secret: &SecretName{Namespace: "carina-system", Name: "chart-creds"}},
	}
	if d := cmp.Diff(want, shop.HelmRepositories); d != "" {
		t.Errorf("helmRepositories (-want +got):\n%s", d)
	}
	if d := c.Sources.Apps[1].Decryption; d == nil || d.Secret == nil || d.Secret.Key != "age.agekey" {
		t.Errorf("decryption = %+v", d)
	}
}

func TestValidateOCIAndSecrets(t *testing.T) {
	in := `sources:
  apps:
    - name: a
      url: oci://registry.example.com/acme/a
      branch: main
      tag: v1
      digest: sha256:abc
    - name: b
      url: https://git.example.com/b.git
      insecure: true
      decryption: {provider: vault, keyFile: keys.txt}
      helmRepositories:
        - url: http://charts.example.com
        - url: ftp://x
        - url: https://charts.example.com/x
          auth: {passwordFile: /p, bearerTokenFile: /t}
          secret: {name: s}
    - name: c
      url: https://git.example.com/c.git
      decryption: {}
clusters: [{name: c1, inCluster: true}]
`
	_, err := Parse("f.yaml", []byte(in))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`f.yaml:3:7: sources.apps[0]: an oci:// source takes tag, semver or digest, not branch`,
		`sources.apps[0]: invalid source reference: oci://registry.example.com/acme/a sets more than one of tag, semver and digest`,
		`sources.apps[1]: digest, insecure and verify apply to oci:// sources only`,
		`sources.apps[1].decryption.provider: provider "vault" is not supported (only sops)`,
		`sources.apps[1].decryption.keyFile: must be an absolute path`,
		`sources.apps[1].helmRepositories[0].url: plain http:// needs insecure: true`,
		`sources.apps[1].helmRepositories[1].url: url "ftp://x" must start with https://, http:// or oci://`,
		`sources.apps[1].helmRepositories[2]: credentials come from auth or from a secret, not both`,
		`sources.apps[1].helmRepositories[2].auth: invalid source reference: auth sets both a password and a bearer token`,
		`sources.apps[2].decryption: decryption needs a keyFile or a secret`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}
