package oci_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carina-gitops/carina/e2e/registry"
	"github.com/carina-gitops/carina/source"
	"github.com/carina-gitops/carina/source/oci"
)

const (
	user = "robot"
	pass = "s3cret-registry-password"
)

// setup starts a TLS registry with htpasswd auth and returns it, a
// fetcher, and a Ref with the right credentials and CA.
func setup(t testing.TB) (*registry.Registry, *oci.Fetcher, oci.Ref) {
	t.Helper()
	ca := registry.NewCA(t)
	reg := registry.Start(t, registry.Options{CA: ca, Username: user, Password: pass})
	f, err := oci.NewFetcher(oci.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ref := oci.Ref{URL: reg.URL("apps/shop"), Tag: "latest",
		Auth: source.Auth{Username: user, PasswordFile: secretFile(t, pass), CAFile: ca.File}}
	return reg, f, ref
}

func secretFile(t testing.TB, v string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFetchFluxArtifact(t *testing.T) {
	reg, f, ref := setup(t)
	d1 := reg.PushFlux(t, "apps/shop", "latest", map[string]string{"app.yaml": "version: 1\n", "deploy/cm.yaml": "kind: ConfigMap\n"})
	s1, err := f.Fetch(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if s1.Commit != d1 || s1.Ref != "latest" || s1.Files != 2 || s1.Revision() != "latest@"+d1 {
		t.Fatalf("snapshot %+v, revision %s, want digest %s", s1, s1.Revision(), d1)
	}
	if b, err := fs.ReadFile(s1.FS(), "deploy/cm.yaml"); err != nil || string(b) != "kind: ConfigMap\n" {
		t.Fatalf("read: %q %v", b, err)
	}
	if !strings.Contains(s1.Message, "@sha1:") || s1.Time.IsZero() {
		t.Errorf("annotations not read: message %q time %v", s1.Message, s1.Time)
	}
	if fi, err := os.Stat(filepath.Join(s1.Dir, "app.yaml")); err != nil || fi.Mode().Perm()&0o222 != 0 {
		t.Errorf("tree file is writable or missing: %v %v", fi, err)
	}

	// The same digest again: resolved, not pulled.
	if _, err := f.Fetch(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	if st := f.Stats(); st.Pulls != 1 || st.Resolves != 2 {
		t.Fatalf("stats %+v, want 1 pull and 2 resolves", st)
	}

	// v2 under the same tag: a new digest on the next poll.
	d2 := reg.PushFlux(t, "apps/shop", "latest", map[string]string{"app.yaml": "version: 2\n"})
	res, err := f.Resolve(t.Context(), ref)
	if err != nil || res.Digest != d2 {
		t.Fatalf("resolve = %+v, %v; want %s", res, err, d2)
	}
	s2, err := f.Fetch(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Commit != d2 || s2.Commit == s1.Commit || s2.Files != 1 {
		t.Fatalf("second snapshot %+v", s2)
	}
	if f.Stats().Pulls != 2 {
		t.Fatalf("stats %+v", f.Stats())
	}
	// A digest Ref needs no resolve round trip and reuses the tree.
	pinned := ref
	pinned.Tag, pinned.Digest = "", d1
	s3, err := f.Fetch(t.Context(), pinned)
	if err != nil || s3.Dir != s1.Dir {
		t.Fatalf("pinned fetch: %+v %v", s3, err)
	}
}

func TestFetchSemver(t *testing.T) {
	reg, f, ref := setup(t)
	for _, tag := range []string{"1.0.0", "1.2.0", "2.0.0", "not-semver"} {
		reg.PushFlux(t, "apps/shop", tag, map[string]string{"v": tag})
	}
	ref.Tag, ref.SemVer = "", "^1.0.0"
	s, err := f.Fetch(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if s.Ref != "1.2.0" || s.Version != "1.2.0" {
		t.Fatalf("snapshot ref %q version %q, want 1.2.0", s.Ref, s.Version)
	}
	ref.SemVer = ">=3.0.0"
	if _, err := f.Fetch(t.Context(), ref); !errors.Is(err, source.ErrNotFound) {
		t.Fatalf("no match: %v", err)
	}
}

func TestWrongPassword(t *testing.T) {
	reg, f, ref := setup(t)
	reg.PushFlux(t, "apps/shop", "latest", map[string]string{"a": "b"})
	wrong := "wrong-password-value-42"
	ref.Auth.PasswordFile = secretFile(t, wrong)
	_, err := f.Fetch(t.Context(), ref)
	if !errors.Is(err, source.ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), pass) {
		t.Fatalf("error holds the password: %v", err)
	}
	if !strings.Contains(err.Error(), "refused the credentials") {
		t.Errorf("error is not clear: %v", err)
	}
}

func TestTransport(t *testing.T) {
	reg, f, ref := setup(t)
	reg.PushFlux(t, "apps/shop", "latest", map[string]string{"a": "b"})
	noCA := ref
	noCA.Auth.CAFile = ""
	if _, err := f.Fetch(t.Context(), noCA); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: %v", err)
	}

	plain := registry.Start(t, registry.Options{})
	plain.PushFlux(t, "apps/shop", "latest", map[string]string{"a": "b"})
	pref := oci.Ref{URL: plain.URL("apps/shop")}
	if _, err := f.Fetch(t.Context(), pref); err == nil {
		t.Fatal("plain HTTP without insecure: no error")
	}
	pref.Insecure = true
	if _, err := f.Fetch(t.Context(), pref); err != nil {
		t.Fatalf("plain HTTP with insecure: %v", err)
	}
}

func TestVerifyCosign(t *testing.T) {
	reg, f, ref := setup(t)
	key, pubFile := cosignKey(t)
	other, _ := cosignKey(t)
	ref.Verify = &oci.Verify{PublicKeyFile: pubFile}

	d1 := reg.PushFlux(t, "apps/shop", "latest", map[string]string{"a": "1"})
	if _, err := f.Fetch(t.Context(), ref); !errors.Is(err, oci.ErrUnverified) {
		t.Fatalf("unsigned: err = %v, want ErrUnverified", err)
	}
	reg.SignCosign(t, "apps/shop", d1, other)
	if _, err := f.Fetch(t.Context(), ref); !errors.Is(err, oci.ErrUnverified) {
		t.Fatalf("signed by another key: err = %v", err)
	}
	if f.Stats().Pulls != 0 {
		t.Fatal("an unverified layer was pulled")
	}
	reg.SignCosign(t, "apps/shop", d1, key)
	s, err := f.Fetch(t.Context(), ref)
	if err != nil || s.Commit != d1 {
		t.Fatalf("signed: %v", err)
	}
}

func cosignKey(t *testing.T) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "cosign.pub")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return k, p
}

func TestLimits(t *testing.T) {
	reg, _, ref := setup(t)
	reg.PushFlux(t, "apps/shop", "latest", map[string]string{"a": "1", "b": "2", "c": "3"})
	f, err := oci.NewFetcher(oci.Options{CacheDir: t.TempDir(), Limits: source.Limits{MaxFiles: 2}})
	if err != nil {
		t.Fatal(err)
	}
	var le *source.LimitError
	if _, err := f.Fetch(t.Context(), ref); !errors.As(err, &le) || le.Limit != source.LimitFiles {
		t.Fatalf("files: %v", err)
	}
	f, _ = oci.NewFetcher(oci.Options{CacheDir: t.TempDir(), Limits: source.Limits{MaxBytes: 2}})
	if _, err := f.Fetch(t.Context(), ref); !errors.As(err, &le) || le.Limit != source.LimitBytes {
		t.Fatalf("bytes: %v", err)
	}
	layer := tarWithEscape(t)
	reg.PushLayer(t, "apps/evil", "latest", registry.FluxContentMediaType, layer, nil)
	evil := ref
	evil.URL = reg.URL("apps/evil")
	f, _ = oci.NewFetcher(oci.Options{CacheDir: t.TempDir()})
	if _, err := f.Fetch(t.Context(), evil); !errors.Is(err, source.ErrOutsideRoot) {
		t.Fatalf("escape: %v", err)
	}
}

func TestRefValidate(t *testing.T) {
	for _, r := range []oci.Ref{
		{URL: "https://registry/x"},
		{URL: "oci://registry"},
		{URL: "oci://user:pw@registry/x"},
		{URL: "oci://registry/x", Tag: "a", Digest: "sha256:00"},
		{URL: "oci://registry/x", Digest: "sha256:abc"},
		{URL: "oci://registry/x", SemVer: "not a range"},
		{URL: "oci://registry/X"},
		{URL: "oci://registry/x", Tag: "-bad"},
		{URL: "oci://registry/x", Verify: &oci.Verify{}},
	} {
		if err := r.Validate(); !errors.Is(err, source.ErrInvalidRef) {
			t.Errorf("%+v: err = %v", r, err)
		}
		if strings.Contains(r.String(), "pw@") {
			t.Errorf("String prints credentials: %s", r)
		}
	}
}
