package agent

import (
	"errors"
	"testing"
	"time"
)

// TestSanitizePosition: the position of an error is its leading
// file:line[:col], or the first file:line:col in it; a host:port is none.
func TestSanitizePosition(t *testing.T) {
	for msg, want := range map[string]string{
		"shop/Appfile:3:5: bad": "shop/Appfile:3:5",
		"render of typo in default at main@sha1:2b8c: typo/Appfile:4:3: conflicting values": "typo/Appfile:4:3",
		"cluster local: Get https://127.0.0.1:6443: connection refused":                     "",
		"dial tcp localhost:6443: connect: refused":                                         "",
	} {
		if got := sanitize(errors.New(msg), time.Time{}).Position; got != want {
			t.Errorf("position of %q = %q, want %q", msg, got, want)
		}
	}
}
