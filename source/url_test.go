package source

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url       string
		allowFile bool
		wantErr   string // substring; "" means accepted
	}{
		{url: "https://github.com/org/app.git"},
		{url: "http://127.0.0.1:8080/app.git"},
		{url: "ssh://git@github.com/org/app.git"},
		{url: "ssh://git@[::1]:2222/srv/app.git"},
		{url: "git@github.com:org/app.git"},
		{url: "git://example.com/app.git"},
		{url: "file:///srv/git/app.git", allowFile: true},
		{url: "/srv/git/app.git", allowFile: true},
		{url: "", wantErr: "is empty"},
		{url: "file:///srv/git/app.git", wantErr: "file://, which is allowed only for local development"},
		{url: "/srv/git/app.git", wantErr: "local path"},
		{url: "ext::sh -c touch% /tmp/pwned", wantErr: "spaces or control"},
		{url: "ext::sh", wantErr: "remote helper"},
		{url: "fd::17", wantErr: "remote helper"},
		{url: "-oProxyCommand=touch /tmp/x", wantErr: "begins with '-'"},
		{url: "--upload-pack=touch", wantErr: "begins with '-'"},
		{url: "ssh://-oProxyCommand=x/app", wantErr: "begins with '-'"},
		{url: "-host:org/app", wantErr: "begins with '-'"},
		{url: "git@-host:org/app", wantErr: "begins with '-'"},
		{url: "ssh://git@host/-x", wantErr: "path that begins with '-'"},
		{url: "https://user:hunter2@github.com/org/app.git", wantErr: "carries credentials"},
		{url: "https://ghp_token@github.com/org/app.git", wantErr: "carries credentials"},
		{url: "ssh://git:hunter2@github.com/org/app.git", wantErr: "carries a password"},
		{url: "https://github.com/org/app.git?private_token=abc", wantErr: "query string"},
		{url: "https://github.com/org/app.git#frag", wantErr: "query string"},
		{url: "https://github.com/org/app\n.git", wantErr: "control characters"},
		{url: "https:///org/app.git", wantErr: "no host"},
		{url: "https://github.com", wantErr: "no repository path"},
		{url: "ftp://example.com/app.git", wantErr: "unsupported scheme"},
		{url: "file://remotehost/srv/app.git", allowFile: true, wantErr: "file:///absolute/path"},
		{url: "relative/path", allowFile: true, wantErr: "relative local path"},
		{url: "https://" + strings.Repeat("a", maxURLLen) + "/x", wantErr: "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			err := CheckURL(tc.url, tc.allowFile)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckURL = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrInvalidRef) {
				t.Fatalf("CheckURL = %v, want ErrInvalidRef containing %q", err, tc.wantErr)
			}
			for _, secret := range []string{"hunter2", "ghp_token", "private_token=abc"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error repeats the secret %q: %v", secret, err)
				}
			}
		})
	}
}

func TestRepoKey(t *testing.T) {
	tests := map[string]string{
		"https://github.com/Org/App.git":          "github.com/org/app",
		"https://github.com/org/app":              "github.com/org/app",
		"git@github.com:org/app.git":              "github.com/org/app",
		"ssh://git@github.com:22/org/app/":        "github.com/org/app",
		"ssh://git@bitbucket.example:7999/p/r":    "bitbucket.example/p/r",
		"https://bitbucket.example/scm/p/r.git":   "bitbucket.example/scm/p/r",
		"https://gitlab.example/group/sub/r.git":  "gitlab.example/group/sub/r",
		"file:///srv/git/app.git":                 "file/srv/git/app",
		"not a url":                               "",
		"https://github.com/":                     "",
		"%%%://bad":                               "",
		"https://user:pw@github.com/org/app.git/": "github.com/org/app",
	}
	for in, want := range tests {
		if got := RepoKey(in); got != want {
			t.Errorf("RepoKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedact(t *testing.T) {
	tests := map[string]string{
		`Get "https://alice:s3cret@git.example/app.git/info/refs?service=git-upload-pack&token=abc": EOF`: `Get "https://git.example/app.git/info/refs": EOF`,
		"clone ssh://git:pw@host/app failed":  "clone ssh://git@host/app failed",
		"fetch https://tok@h/x#frag and more": "fetch https://h/x and more",
		"no urls here":                        "no urls here",
		"broken http://u:p@[::1/x?y":          "broken http://u:p…",
	}
	for in, want := range tests {
		if diff := cmp.Diff(want, Redact(in)); diff != "" {
			t.Errorf("Redact(%q) (-want +got):\n%s", in, diff)
		}
	}
}

func TestSanitizeScrubsSecretsButKeepsKinds(t *testing.T) {
	raw := errors.Join(ErrAuth, errors.New(`Get "https://u:pw123@h/r?x=1": the password pw123 was refused`))
	err := sanitize(raw, "pw123")
	if strings.Contains(err.Error(), "pw123") || strings.Contains(err.Error(), "x=1") {
		t.Errorf("sanitized error still holds secrets: %v", err)
	}
	if !errors.Is(err, ErrAuth) {
		t.Errorf("sanitized error lost ErrAuth: %v", err)
	}
	if errors.Unwrap(err) != nil {
		t.Errorf("sanitized error unwraps to the raw error")
	}
}

// FuzzParseRepoURL checks that no input panics, that accepted URLs
// round-trip to one that is accepted again, and that errors never repeat
// the input.
func FuzzParseRepoURL(f *testing.F) {
	for _, s := range []string{
		"https://github.com/org/app.git", "git@github.com:org/app.git", "ssh://git@[::1]:22/x",
		"ext::sh", "-oProxyCommand=x", "https://u:p@h/x", "file:///srv/x", "/srv/x", "h:",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, allowFile bool) {
		u, err := parseRepoURL(raw, allowFile)
		if err != nil {
			if len(raw) > 8 && utf8.ValidString(raw) && strings.Contains(err.Error(), raw) {
				t.Errorf("error repeats the URL: %v", err)
			}
			return
		}
		if _, err := parseRepoURL(u.String(), allowFile); err != nil {
			t.Errorf("accepted %q, but its form %q is refused: %v", raw, u.String(), err)
		}
		_ = RepoKey(raw)
	})
}
