package webhook

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/carina-gitops/carina/source"
)

// The seed corpus of each target lives in testdata/fuzz/<target>/ and is
// built from the payloads in testdata/payloads.

// checkParsed holds for every event a parser accepts.
func checkParsed(t *testing.T, p Provider, ev Event, known bool, err error) {
	if err != nil || !known {
		return
	}
	if ev.Provider != p {
		t.Errorf("provider = %q, want %q", ev.Provider, p)
	}
	if len(ev.Repos) == 0 || len(ev.RepoKeys()) == 0 || ev.Ref == "" {
		t.Errorf("accepted an event without repository or ref: %+v", ev)
	}
	for _, u := range ev.Repos {
		if source.RepoKey(u) == "" {
			t.Errorf("accepted repository URL %q that RepoKey cannot read", u)
		}
	}
	for _, s := range []string{ev.SHA, ev.Before} {
		if s != "" && cleanSHA(s) != s {
			t.Errorf("accepted commit id %q", s)
		}
	}
	if (ev.Kind == KindPullRequest) != (ev.PullRequest != nil) {
		t.Errorf("kind %s with pull request %v", ev.Kind, ev.PullRequest)
	}
	if ev.PullRequest != nil && ev.PullRequest.Number <= 0 {
		t.Errorf("pull request number %d", ev.PullRequest.Number)
	}
}

func fuzzParser(f *testing.F, p Provider) {
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		ev, known, err := providers[p].parse(event, body)
		checkParsed(t, p, ev, known, err)
	})
}

func FuzzParseGitHub(f *testing.F)          { fuzzParser(f, GitHub) }
func FuzzParseGitLab(f *testing.F)          { fuzzParser(f, GitLab) }
func FuzzParseGitea(f *testing.F)           { fuzzParser(f, Gitea) }
func FuzzParseBitbucketCloud(f *testing.F)  { fuzzParser(f, BitbucketCloud) }
func FuzzParseBitbucketServer(f *testing.F) { fuzzParser(f, BitbucketServer) }
func FuzzParseGeneric(f *testing.F)         { fuzzParser(f, Generic) }

// FuzzVerify checks that no signature header other than the right one is
// accepted, whatever the body.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(`{"ref":"refs/heads/main"}`), "sha256=00", "tok")
	f.Add([]byte{}, "", "")
	f.Fuzz(func(t *testing.T, body []byte, header, token string) {
		secret := []byte("fuzz-secret")
		for name, p := range providers {
			h := map[string][]string{
				"X-Hub-Signature-256": {header}, "X-Hub-Signature": {header}, "X-Signature-256": {header},
				"X-Gitea-Signature": {header}, "X-Gitlab-Token": {token},
			}
			err := p.verify(secret, h, body)
			right := "sha256=" + Sign(secret, body)
			ok := header == right || (name == Gitea && header == Sign(secret, body)) || (name == GitLab && token == string(secret))
			if (err == nil) != ok {
				t.Errorf("%s: verify(%q, %q) = %v", name, header, token, err)
			}
		}
	})
}

var fuzzTargets = map[Provider]string{
	GitHub: "FuzzParseGitHub", GitLab: "FuzzParseGitLab", Gitea: "FuzzParseGitea",
	BitbucketCloud: "FuzzParseBitbucketCloud", BitbucketServer: "FuzzParseBitbucketServer", Generic: "FuzzParseGeneric",
}

// TestFuzzSeedCorpus keeps testdata/fuzz in step with the payload
// fixtures: each fixture, whole and cut in half, seeds its parser's
// target. Run with -update to rewrite the corpus.
func TestFuzzSeedCorpus(t *testing.T) {
	for _, fx := range fixtures {
		h := http.Header{}
		for k, v := range fx.headers {
			h.Set(k, v)
		}
		event := providers[fx.provider].event(h)
		body := readPayload(t, fx.name)
		seeds := map[string][]byte{fx.name: body, fx.name + "-truncated": body[:len(body)/2]}
		for name, b := range seeds {
			path := filepath.Join("testdata", "fuzz", fuzzTargets[fx.provider], name)
			want := fmt.Sprintf("go test fuzz v1\nstring(%s)\n[]byte(%s)\n", strconv.Quote(event), strconv.Quote(string(b)))
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != want {
				t.Errorf("seed %s is missing or stale (run go test -update): %v", path, err)
			}
		}
	}
}
