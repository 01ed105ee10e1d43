package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
)

// provider is how one forge signs, names and shapes its webhooks.
type provider struct {
	// verify checks the request's signature over body.
	verify func(secret []byte, h http.Header, body []byte) error
	// event reads the event name from the headers.
	event func(http.Header) string
	// delivery names the header with the delivery id.
	delivery string
	// parse turns a verified body into an Event; known is false for an
	// event or action that needs no wake-up.
	parse func(event string, body []byte) (ev Event, known bool, err error)
}

var providers = map[Provider]provider{
	GitHub: {verify: hmacHeader("X-Hub-Signature-256", "sha256="), event: githubEvent,
		delivery: "X-GitHub-Delivery", parse: parseGitHub},
	GitLab: {verify: verifyGitLabToken, event: gitlabEvent,
		delivery: "X-Gitlab-Event-UUID", parse: parseGitLab},
	Gitea: {verify: verifyGitea, event: giteaEvent,
		delivery: "X-Gitea-Delivery", parse: parseGitea},
	BitbucketCloud: {verify: hmacHeader("X-Hub-Signature", "sha256="), event: bitbucketEvent,
		delivery: "X-Request-UUID", parse: parseBitbucketCloud},
	BitbucketServer: {verify: hmacHeader("X-Hub-Signature", "sha256="), event: bitbucketEvent,
		delivery: "X-Request-Id", parse: parseBitbucketServer},
	Generic: {verify: hmacHeader("X-Signature-256", "sha256="), event: genericEvent,
		delivery: "X-Request-Id", parse: parseGeneric},
}

// errSignature is the only signature error; the response says no more.
var errSignature = errors.New("missing or invalid signature")

// Sign returns the HMAC-SHA256 of body under secret in hex, as GitHub,
// Gitea, Bitbucket and the generic receiver send it (GitHub, Bitbucket and
// generic prefix it with "sha256=").
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// checkHMAC compares a hex signature with the HMAC of body in constant
// time.
func checkHMAC(secret, body []byte, sigHex string) error {
	got, err := hex.DecodeString(sigHex)
	if err != nil || len(got) != sha256.Size {
		return errSignature
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	if !hmac.Equal(m.Sum(nil), got) {
		return errSignature
	}
	return nil
}

func hmacHeader(name, prefix string) func([]byte, http.Header, []byte) error {
	return func(secret []byte, h http.Header, body []byte) error {
		sig, ok := strings.CutPrefix(h.Get(name), prefix)
		if !ok {
			return errSignature
		}
		return checkHMAC(secret, body, sig)
	}
}

// verifyGitea accepts Gitea's header, or Forgejo's when Gitea's is absent.
func verifyGitea(secret []byte, h http.Header, body []byte) error {
	sig := h.Get("X-Gitea-Signature")
	if sig == "" {
		sig = h.Get("X-Forgejo-Signature")
	}
	if sig == "" {
		return errSignature
	}
	return checkHMAC(secret, body, sig)
}

// verifyGitLabToken compares GitLab's shared token. Hashing both sides
// first keeps the comparison constant-time whatever their lengths.
func verifyGitLabToken(secret []byte, h http.Header, _ []byte) error {
	tok := h.Get("X-Gitlab-Token")
	if tok == "" {
		return errSignature
	}
	a, b := sha256.Sum256([]byte(tok)), sha256.Sum256(secret)
	if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
		return errSignature
	}
	return nil
}
