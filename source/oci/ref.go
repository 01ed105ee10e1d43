package oci

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/carina-gitops/carina/source"
)

// Ref names an OCI artifact. Exactly one of Tag, SemVer and Digest may be
// set; none means the tag "latest".
type Ref struct {
	// URL is "oci://host[:port]/repository".
	URL string `json:"url"`
	// Tag is a tag, such as "v1.2.3" or "latest".
	Tag string `json:"tag,omitempty"`
	// SemVer is a range over the repository's tags, ">=1.0.0 <2.0.0".
	SemVer string `json:"semver,omitempty"`
	// Digest pins a manifest, "sha256:<hex>".
	Digest string `json:"digest,omitempty"`
	// Path is the directory of the tree the consumer reads.
	Path string `json:"path,omitempty"`
	// Insecure allows plain HTTP. Without it the registry must speak TLS.
	Insecure bool `json:"insecure,omitempty"`
	// Auth holds the credentials (files or environment variables) and
	// the CA file; SSH fields do not apply.
	Auth source.Auth `json:"auth,omitzero"`
	// Verify requires a cosign signature made with the key in
	// PublicKeyFile; nil accepts unsigned artifacts.
	Verify *Verify `json:"verify,omitempty"`
	// Timeout bounds one fetch; 0 uses Options.Limits.Time.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// Verify configures signature verification.
type Verify struct {
	// PublicKeyFile is a PEM public key (cosign.pub: ECDSA P-256, also
	// RSA or Ed25519).
	PublicKeyFile string `json:"publicKeyFile"`
}

// String prints the reference without credentials.
func (r Ref) String() string {
	s := source.Redact(r.URL)
	switch {
	case r.Digest != "":
		s += "@" + r.Digest
	case r.SemVer != "":
		s += " semver " + r.SemVer
	default:
		s += ":" + r.tag()
	}
	return s
}

// LogValue prints the reference and which credential sources are set.
func (r Ref) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", r.String()), slog.String("auth", r.Auth.String()))
}

func (r Ref) tag() string {
	if r.Tag == "" {
		return "latest"
	}
	return r.Tag
}

// Validate checks the reference without network. Errors match
// source.ErrInvalidRef.
func (r Ref) Validate() error {
	_, _, err := r.parse()
	return err
}

// parse returns host:port and the repository path.
func (r Ref) parse() (host, repo string, err error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{source.ErrInvalidRef}, a...)...)
	}
	rest, ok := strings.CutPrefix(r.URL, "oci://")
	if !ok {
		return "", "", bad("OCI URL %q must start with oci://", source.Redact(r.URL))
	}
	if strings.ContainsAny(rest, "@?#\\ \t\r\n") || strings.Contains(rest, "..") {
		return "", "", bad("OCI URL %q holds credentials, a query or bad characters", source.Redact(r.URL))
	}
	host, repo, ok = strings.Cut(rest, "/")
	if !ok || host == "" || repo == "" || strings.HasSuffix(repo, "/") || strings.Contains(repo, "//") {
		return "", "", bad("OCI URL %q must name a host and a repository", r.URL)
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = strings.ToLower(h) + host[len(h):]
	} else {
		host = strings.ToLower(host)
	}
	if repo != strings.ToLower(repo) {
		return "", "", bad("OCI repository %q must be lower case", repo)
	}
	n := 0
	for _, v := range []string{r.Tag, r.SemVer, r.Digest} {
		if v != "" {
			n++
		}
	}
	if n > 1 {
		return "", "", bad("%s sets more than one of tag, semver and digest", r.URL)
	}
	if r.Digest != "" && !validDigest(r.Digest) {
		return "", "", bad("digest %q is not sha256:<64 hex>", r.Digest)
	}
	if r.Tag != "" && !validTag(r.Tag) {
		return "", "", bad("tag %q is not a valid OCI tag", r.Tag)
	}
	if r.SemVer != "" {
		if _, err := semver.NewConstraint(r.SemVer); err != nil {
			return "", "", bad("semver range %q: %v", r.SemVer, err)
		}
	}
	if r.Verify != nil && r.Verify.PublicKeyFile == "" {
		return "", "", bad("verify needs a publicKeyFile")
	}
	if r.Auth.SSHKeyFile != "" || r.Auth.KnownHostsFile != "" {
		return "", "", bad("OCI sources take no SSH credentials")
	}
	return host, repo, nil
}

func validDigest(d string) bool {
	hex, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	for _, c := range hex {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// validTag follows the distribution spec: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
func validTag(t string) bool {
	if len(t) == 0 || len(t) > 128 || t[0] == '.' || t[0] == '-' {
		return false
	}
	for _, c := range t {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
