package source

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestRefValidate(t *testing.T) {
	const u = "https://github.com/org/app.git"
	tests := []struct {
		name    string
		ref     Ref
		wantErr string
	}{
		{name: "head", ref: Ref{URL: u}},
		{name: "branch", ref: Ref{URL: u, Branch: "release/1.x"}},
		{name: "semver with prefix", ref: Ref{URL: u, SemVer: ">=1.0.0 <2", TagPrefix: "shop/v"}},
		{name: "commit", ref: Ref{URL: u, Commit: strings.Repeat("ab", 20)}},
		{name: "pull request", ref: Ref{URL: u, Name: "refs/pull/42/head"}},
		{name: "path", ref: Ref{URL: u, Path: "apps/shop"}},
		{name: "two kinds", ref: Ref{URL: u, Branch: "main", Tag: "v1"}, wantErr: "only one of"},
		{name: "prefix without semver", ref: Ref{URL: u, TagPrefix: "v"}, wantErr: "tagPrefix needs semver"},
		{name: "bad semver", ref: Ref{URL: u, SemVer: ">>=1"}, wantErr: "semver range"},
		{name: "short commit", ref: Ref{URL: u, Commit: "abc123"}, wantErr: "full 40-hex"},
		{name: "name outside refs", ref: Ref{URL: u, Name: "HEAD"}, wantErr: "must start with refs/"},
		{name: "branch with ..", ref: Ref{URL: u, Branch: "a..b"}, wantErr: "not a valid git ref name"},
		{name: "branch with option", ref: Ref{URL: u, Branch: "-f"}, wantErr: "not a valid git ref name"},
		{name: "path escapes", ref: Ref{URL: u, Path: "../etc"}, wantErr: "must stay inside"},
		{name: "absolute path", ref: Ref{URL: u, Path: "/etc"}, wantErr: "must stay inside"},
		{name: "password and token", ref: Ref{URL: u, Auth: Auth{PasswordFile: "a", BearerTokenFile: "b"}}, wantErr: "both a password and a bearer token"},
		{name: "unsafe url", ref: Ref{URL: "ext::sh"}, wantErr: "remote helper"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.ref.Validate(false)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidRef) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate = %v, want ErrInvalidRef containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestRefAndAuthNeverPrintSecrets(t *testing.T) {
	ref := Ref{
		URL:    "https://leaky:hunter2@git.example/app.git?token=abc",
		Branch: "main",
		Auth:   Auth{Username: "bob", PasswordFile: "/secrets/pw", CAFile: "/secrets/ca.pem"},
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("fetch", "ref", ref, "auth", ref.Auth, "creds", credentials{password: "hunter2", token: "abc"})
	outputs := map[string]string{
		"String":   ref.String(),
		"%v":       fmt.Sprintf("%v", ref),
		"Auth":     ref.Auth.String(),
		"slog":     logs.String(),
		"creds %v": fmt.Sprintf("%v %+v", credentials{password: "hunter2"}, credentials{token: "abc"}),
	}
	for name, out := range outputs {
		if strings.Contains(out, "hunter2") || strings.Contains(out, "token=abc") || strings.Contains(out, "leaky") {
			t.Errorf("%s prints a secret: %s", name, out)
		}
	}
	if got, want := ref.Auth.String(), "auth(username,passwordFile,caFile)"; got != want {
		t.Errorf("Auth.String() = %q, want %q", got, want)
	}
	if got, want := ref.String(), "https://git.example/app.git branch main"; got != want {
		t.Errorf("Ref.String() = %q, want %q", got, want)
	}
}

func TestFetchFileURLOnlyWhenAllowed(t *testing.T) {
	repos, w, sha := seedApp(t)
	w.Tag("v1.0.0")
	w.Push("--tags")
	url := "file://" + repos.Bare("app")

	_, err := newFetcher(t, nil).Fetch(t.Context(), Ref{URL: url})
	if !errors.Is(err, ErrInvalidRef) {
		t.Fatalf("file:// without AllowFile: error = %v, want ErrInvalidRef", err)
	}
	f := newFetcher(t, func(o *Options) { o.AllowFile = true })
	for _, ref := range []Ref{{URL: url}, {URL: repos.Bare("app"), SemVer: "^1"}, {URL: url, Commit: sha}} {
		s, err := f.Fetch(t.Context(), ref)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if s.Commit != sha || readFile(t, s, "README.md") != "# shop\n" {
			t.Errorf("%s: commit %s, want %s", ref, s.Commit, sha)
		}
	}
	if st := f.Stats(); st.LsRemotes != 0 || st.Downloads != 0 {
		t.Errorf("local fetches used the network: %+v", st)
	}
}
