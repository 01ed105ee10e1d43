package config

import (
	"fmt"
	"path"
	"strings"

	"github.com/carina-gitops/carina/source"
	"github.com/carina-gitops/carina/source/oci"
)

// sourceRef validates a source's reference (Git or OCI), its decryption
// keys and its chart repository credentials.
func (v *validator) sourceRef(p string, s Source, allowFile bool) {
	if s.IsOCI() {
		if s.Branch != "" || s.Commit != "" || s.Ref != "" || s.TagPrefix != "" {
			v.addf(p, "an oci:// source takes tag, semver or digest, not branch, commit, ref or tagPrefix")
		}
		if err := s.OCIRef().Validate(); err != nil {
			v.addf(p, "%v", err)
		}
	} else {
		if s.Digest != "" || s.Insecure || s.Verify != nil {
			v.addf(p, "digest, insecure and verify apply to oci:// sources only")
		}
		if err := s.SourceRef().Validate(allowFile); err != nil {
			v.addf(p, "%v", err)
		}
	}
	if d := s.Decryption; d != nil {
		v.decryption(p+".decryption", d)
	}
	seen := map[string]bool{}
	for i, r := range s.HelmRepositories {
		v.helmRepository(fmt.Sprintf("%s.helmRepositories[%d]", p, i), r, seen)
	}
}

func (v *validator) decryption(p string, d *Decryption) {
	if d.Provider != "" && d.Provider != "sops" {
		v.addf(p+".provider", "provider %q is not supported (only sops)", d.Provider)
	}
	switch {
	case d.KeyFile == "" && d.Secret == nil:
		v.addf(p, "decryption needs a keyFile or a secret")
	case d.KeyFile != "" && d.Secret != nil:
		v.addf(p, "decryption takes a keyFile or a secret, not both")
	case d.KeyFile != "" && !path.IsAbs(d.KeyFile):
		v.addf(p+".keyFile", "must be an absolute path")
	case d.Secret != nil:
		v.name(p+".secret.namespace", d.Secret.Namespace)
		if d.Secret.Name == "" {
			v.addf(p+".secret.name", "a Secret name is required")
		}
	}
}

func (v *validator) helmRepository(p string, r HelmRepository, seen map[string]bool) {
	https := strings.HasPrefix(r.URL, "https://")
	plain := strings.HasPrefix(r.URL, "http://")
	switch {
	case !https && !plain && !strings.HasPrefix(r.URL, "oci://"):
		v.addf(p+".url", "url %q must start with https://, http:// or oci://", source.Redact(r.URL))
	case plain && !r.Insecure:
		v.addf(p+".url", "plain http:// needs insecure: true")
	case source.Redact(r.URL) != r.URL:
		v.addf(p+".url", "url must not hold credentials or a query")
	}
	if seen[r.URL] {
		v.addf(p+".url", "repository %q is listed twice", r.URL)
	}
	seen[r.URL] = true
	if r.Secret != nil && (r.Auth != Auth{}) {
		v.addf(p, "credentials come from auth or from a secret, not both")
	}
	if r.Secret != nil && r.Secret.Name == "" {
		v.addf(p+".secret.name", "a Secret name is required")
	}
	if err := source.Auth(r.Auth).Validate(); err != nil {
		v.addf(p+".auth", "%v", err)
	}
	if r.Auth.SSHKeyFile != "" || r.Auth.KnownHostsFile != "" {
		v.addf(p+".auth", "chart repositories take no SSH credentials")
	}
}

// OCIRef returns the oci.Ref an oci:// source names.
func (s Source) OCIRef() oci.Ref {
	r := oci.Ref{
		URL: s.URL, Tag: s.Tag, SemVer: s.SemVer, Digest: s.Digest, Path: s.Path,
		Insecure: s.Insecure, Auth: source.Auth(s.Auth), Timeout: s.Timeout,
	}
	if s.Verify != nil {
		r.Verify = &oci.Verify{PublicKeyFile: s.Verify.PublicKeyFile}
	}
	return r
}
