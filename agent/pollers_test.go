package agent

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// An OCI revision's id is its whole manifest digest: the restorer used to
// take the digest's last 40 hex digits for a Git commit.
func TestCommitIDOfRevisions(t *testing.T) {
	sha1 := strings.Repeat("ab", 20)
	digest := "sha256:" + strings.Repeat("0c", 32)
	for _, tc := range []struct{ rev, want string }{
		{sha1, sha1},
		{"main@sha1:" + sha1, sha1},
		{digest, digest},
		{"latest@" + digest, digest},
		{"v1.2.3@" + digest, digest},
		{"main", ""},
	} {
		if got := commitID.FindString(tc.rev); got != tc.want {
			t.Errorf("commitID(%q) = %q, want %q", tc.rev, got, tc.want)
		}
	}
}

// A decryption error carries the SOPS file's position to the status.
func TestSanitizeSOPSPosition(t *testing.T) {
	err := errors.New("render of shop in prod at main@sha1:0123: decryption of application shop (env prod): apps/shop/secret.yaml:14: sops MAC mismatch: the file was changed after it was encrypted")
	if got := sanitize(err, time.Time{}).Position; got != "apps/shop/secret.yaml:14" {
		t.Errorf("position = %q", got)
	}
}
