package source

import (
	"fmt"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
)

// RefKind says how a Ref picks its commit.
type RefKind string

// The kinds of Ref, in the order Ref.Kind checks them.
const (
	// KindHead follows the remote's default branch (its HEAD).
	KindHead RefKind = "head"
	// KindBranch follows a branch.
	KindBranch RefKind = "branch"
	// KindTag pins a tag (lightweight or annotated).
	KindTag RefKind = "tag"
	// KindSemVer follows the highest tag that matches a semver range.
	KindSemVer RefKind = "semver"
	// KindCommit pins a commit id.
	KindCommit RefKind = "commit"
	// KindName follows any ref by its full name, like refs/pull/42/head.
	KindName RefKind = "name"
)

// Ref is a reference to a Git repository: where it is, which commit to
// take, which part of it matters, and how to authenticate.
//
// At most one of Branch, Tag, SemVer, Commit and Name may be set; with none
// set the Ref follows the remote's default branch.
type Ref struct {
	// URL is the repository: https://, http://, ssh://, git:// or scp-like
	// (git@host:org/repo.git). file:// and local paths work only when the
	// Fetcher allows them. Credentials in the URL are refused.
	URL string `json:"url"`
	// Branch follows a branch, "main".
	Branch string `json:"branch,omitempty"`
	// Tag pins a tag, "v1.2.3".
	Tag string `json:"tag,omitempty"`
	// SemVer follows the highest tag matching a Masterminds semver range,
	// ">=1.2.0 <2.0.0".
	SemVer string `json:"semver,omitempty"`
	// TagPrefix, with SemVer, only considers tags that start with it and
	// strips it before parsing the version ("shop/v" for "shop/v1.2.3").
	TagPrefix string `json:"tagPrefix,omitempty"`
	// Commit pins a full 40-hex commit id.
	Commit string `json:"commit,omitempty"`
	// Name follows a ref by its full name, "refs/pull/42/head".
	Name string `json:"name,omitempty"`
	// Path is the slash-separated directory of the repository the consumer
	// reads, "" for the root. The snapshot still holds the whole tree.
	Path string `json:"path,omitempty"`
	// Auth names where the credentials are; it never holds them.
	Auth Auth `json:"auth,omitempty"`
	// Interval is how often a Poller asks the remote for changes.
	Interval time.Duration `json:"interval,omitempty"`
	// Timeout bounds one fetch; the Fetcher's default applies when zero.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// Kind returns the way the Ref picks its commit. It does not check that
// only one kind is set; Validate does.
func (r Ref) Kind() RefKind {
	switch {
	case r.Branch != "":
		return KindBranch
	case r.Tag != "":
		return KindTag
	case r.SemVer != "":
		return KindSemVer
	case r.Commit != "":
		return KindCommit
	case r.Name != "":
		return KindName
	}
	return KindHead
}

// Validate checks the Ref without touching the network or the file
// system. Every error matches ErrInvalidRef.
func (r Ref) Validate(allowFile bool) error {
	if err := CheckURL(r.URL, allowFile); err != nil {
		return err
	}
	set := 0
	for _, v := range []string{r.Branch, r.Tag, r.SemVer, r.Commit, r.Name} {
		if v != "" {
			set++
		}
	}
	if set > 1 {
		return fmt.Errorf("%w: set only one of branch, tag, semver, commit and name", ErrInvalidRef)
	}
	if r.TagPrefix != "" && r.SemVer == "" {
		return fmt.Errorf("%w: tagPrefix needs semver", ErrInvalidRef)
	}
	if err := r.validateRef(); err != nil {
		return err
	}
	if r.Path != "" {
		clean := path.Clean(r.Path)
		if path.IsAbs(r.Path) || clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains(r.Path, "\\") {
			return fmt.Errorf("%w: path %q must stay inside the repository", ErrInvalidRef, r.Path)
		}
	}
	if r.Interval < 0 || r.Timeout < 0 {
		return fmt.Errorf("%w: interval and timeout must not be negative", ErrInvalidRef)
	}
	return r.Auth.validate()
}

func (r Ref) validateRef() error {
	switch r.Kind() {
	case KindBranch:
		return checkRefName("refs/heads/" + r.Branch)
	case KindTag:
		return checkRefName("refs/tags/" + r.Tag)
	case KindSemVer:
		if _, err := semver.NewConstraint(r.SemVer); err != nil {
			return fmt.Errorf("%w: semver range %q: %v", ErrInvalidRef, r.SemVer, err)
		}
		if r.TagPrefix != "" {
			return checkRefName("refs/tags/" + r.TagPrefix + "0")
		}
	case KindCommit:
		if !isHex(r.Commit, 40) {
			return fmt.Errorf("%w: commit %q is not a full 40-hex id", ErrInvalidRef, r.Commit)
		}
	case KindName:
		if !strings.HasPrefix(r.Name, "refs/") {
			return fmt.Errorf("%w: ref name %q must start with refs/", ErrInvalidRef, r.Name)
		}
		return checkRefName(r.Name)
	}
	return nil
}

// checkRefName applies the rules of git check-ref-format that matter for
// safety and for matching advertised refs.
func checkRefName(name string) error {
	bad := len(name) > 1024 ||
		strings.ContainsAny(name, " ~^:?*[\\") ||
		strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) ||
		strings.Contains(name, "..") || strings.Contains(name, "//") || strings.Contains(name, "@{") ||
		strings.HasSuffix(name, "/") || strings.HasSuffix(name, ".") || strings.HasSuffix(name, ".lock")
	for _, part := range strings.Split(name, "/") {
		if strings.HasPrefix(part, ".") || strings.HasPrefix(part, "-") {
			bad = true
		}
	}
	if bad {
		return fmt.Errorf("%w: %q is not a valid git ref name", ErrInvalidRef, name)
	}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// refSpec returns "branch main", "semver >=1 (prefix app/)", and so on.
func (r Ref) refSpec() string {
	switch r.Kind() {
	case KindBranch:
		return "branch " + r.Branch
	case KindTag:
		return "tag " + r.Tag
	case KindSemVer:
		if r.TagPrefix != "" {
			return fmt.Sprintf("semver %s (prefix %s)", r.SemVer, r.TagPrefix)
		}
		return "semver " + r.SemVer
	case KindCommit:
		return "commit " + r.Commit
	case KindName:
		return "ref " + r.Name
	}
	return "default branch"
}

// String returns the URL without credentials or query, the ref and the
// path. It never includes credentials.
func (r Ref) String() string {
	s := Redact(r.URL) + " " + r.refSpec()
	if r.Path != "" {
		s += " path " + r.Path
	}
	return s
}

// LogValue makes slog print the Ref as a group without credentials.
func (r Ref) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("url", Redact(r.URL)),
		slog.String("ref", r.refSpec()),
	}
	if r.Path != "" {
		attrs = append(attrs, slog.String("path", r.Path))
	}
	return slog.GroupValue(attrs...)
}
