package pin

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/carina-gitops/carina/e2e/gitserver"
	"github.com/carina-gitops/carina/internal/egress"
	"github.com/carina-gitops/carina/source"
)

const commitA = "0123456789abcdef0123456789abcdef01234567"

func TestParse(t *testing.T) {
	tests := []struct {
		name, in string
		want     Pin
		err      string
	}{
		{name: "commit", in: "revision: " + commitA + "\n", want: Pin{Revision: commitA}},
		{name: "tag with comment", in: "# pinned\nrevision: v1.2.3 # release\n", want: Pin{Revision: "v1.2.3"}},
		{name: "empty", in: "", err: "environments/prod.yaml:1: pin file is empty"},
		{name: "missing revision", in: "other: 1\n", err: `environments/prod.yaml:1: unknown field "other"`},
		{name: "not a mapping", in: "- a\n", err: "environments/prod.yaml:1: pin file must be a mapping"},
		{name: "bad revision", in: "\nrevision: ../x\n", err: "environments/prod.yaml:2: revision \"../x\" is neither"},
		{name: "short sha is a tag name", in: "revision: 0123abc\n", want: Pin{Revision: "0123abc"}},
		{name: "list value", in: "revision:\n  - a\n", err: "environments/prod.yaml:2: revision must be a string"},
		{name: "bad yaml", in: "revision: [\n", err: "environments/prod.yaml:"},
		{name: "option-like", in: "revision: -x\n", err: "neither a full commit id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("environments/prod.yaml", []byte(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestReadFromSnapshotFS(t *testing.T) {
	fsys := fstest.MapFS{"environments/prod.yaml": {Data: Format("shop", "prod", Pin{Revision: commitA})}}
	p, err := Read(fsys, "environments/prod.yaml")
	if err != nil || p.Revision != commitA {
		t.Fatalf("read: %+v %v", p, err)
	}
	if _, err := Read(fsys, "environments/staging.yaml"); !errors.Is(err, ErrNotPinned) {
		t.Errorf("missing pin: %v, want ErrNotPinned", err)
	}
	big := fstest.MapFS{"p.yaml": {Data: []byte("revision: v1\n" + strings.Repeat("#", MaxFileBytes))}}
	if _, err := Read(big, "p.yaml"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big pin file: %v", err)
	}
}

func TestPath(t *testing.T) {
	if p, err := Path("", "prod"); err != nil || p != "environments/prod.yaml" {
		t.Errorf("Path: %q %v", p, err)
	}
	for _, bad := range []struct{ dir, env string }{{"", "Prod"}, {"", "../x"}, {"../up", "prod"}, {"/abs", "prod"}} {
		if _, err := Path(bad.dir, bad.env); err == nil {
			t.Errorf("Path(%q, %q) accepted", bad.dir, bad.env)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("revision: " + commitA + "\n"))
	f.Add([]byte("revision: v1.0.0\n"))
	f.Add([]byte("revision: [\n"))
	f.Add([]byte("a: &x 1\nb: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("p.yaml", data)
		if err == nil && Validate(p.Revision) != nil {
			t.Fatalf("accepted invalid revision %q", p.Revision)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "p.yaml:") {
			t.Fatalf("error without position: %v", err)
		}
	})
}

// TestPushChangeToRealGitServer writes a pin change with go-git against a
// real git http-backend behind basic auth, reads it back, and re-runs it.
func TestPushChangeToRealGitServer(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the git HTTP server")
	}
	repos := gitserver.NewRepos(t)
	w := repos.Create(t, "app")
	w.Write("app.yaml", "name: shop\n")
	first := w.Commit("first")
	w.Write("environments/prod.yaml", "revision: "+strings.TrimSpace(first)+"\n")
	w.Write("environments/a-dir/x.yaml", "x: 1\n")
	w.Commit("pin prod")
	w.Write("app.yaml", "name: shop\nreplicas: 2\n")
	third := strings.TrimSpace(w.Commit("more replicas"))
	w.Push("main")
	gitserver.Git(t, w.Bare, "config", "http.receivepack", "true")
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{Username: "bot", Password: "s3cret-password"})
	auth := botAuth(t, "s3cret-password")
	ctx := t.Context()

	repo, err := Clone(ctx, srv.RepoURL("app"), auth, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	file, _ := Path("", "prod")
	old, err := repo.ReadPin(file)
	if err != nil || old.Revision != strings.TrimSpace(first) {
		t.Fatalf("old pin: %+v %v", old, err)
	}
	commits, truncated, err := repo.Commits(ctx, old.Revision, third, 10)
	if err != nil || truncated {
		t.Fatal(err, truncated)
	}
	var subjects []string
	for _, c := range commits {
		subjects = append(subjects, c.Subject)
	}
	if d := cmp.Diff([]string{"more replicas", "pin prod"}, subjects); d != "" {
		t.Errorf("commits between (-want +got):\n%s", d)
	}
	content := Format("shop", "prod", Pin{Revision: third})
	res, err := repo.PushChange(ctx, "carina/promote/shop-prod", file, content, "Promote shop to prod", Signature{})
	if err != nil || !res.Pushed {
		t.Fatalf("push: %+v %v", res, err)
	}
	got := gitserver.Git(t, w.Bare, "show", "carina/promote/shop-prod:environments/prod.yaml")
	if got != strings.TrimSpace(string(content)) {
		t.Errorf("pushed pin file:\n%s", got)
	}
	if x := gitserver.Git(t, w.Bare, "show", "carina/promote/shop-prod:environments/a-dir/x.yaml"); x != "x: 1" {
		t.Errorf("sibling file changed: %q", x)
	}
	if msg := gitserver.Git(t, w.Bare, "log", "-1", "--format=%s %an", "carina/promote/shop-prod"); msg != "Promote shop to prod Carina" {
		t.Errorf("commit: %q", msg)
	}
	gitserver.Git(t, w.Bare, "fsck", "--strict")

	again, err := Clone(ctx, srv.RepoURL("app"), auth, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	res2, err := again.PushChange(ctx, "carina/promote/shop-prod", file, content, "Promote shop to prod", Signature{})
	if err != nil || res2.Pushed || res2.Commit != res.Commit {
		t.Errorf("re-run: %+v %v, want the same commit and no push", res2, err)
	}
	if _, err := again.PushChange(ctx, "carina/x", file, []byte("revision: "+old.Revision+"\n"), "no-op", Signature{}); !errors.Is(err, ErrNoChange) {
		t.Errorf("unchanged pin: %v, want ErrNoChange", err)
	}
}

func TestCloneErrorHasNoPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the git HTTP server")
	}
	srv := botServer(t, "right-password")
	_, err := Clone(t.Context(), srv.RepoURL("app"), botAuth(t, "wrong-password-xyz"), "main", nil)
	if err == nil || strings.Contains(err.Error(), "wrong-password-xyz") {
		t.Fatalf("clone with a wrong password: %v", err)
	}
}

// TestCloneRefusesWhatTheEgressPolicyDenies: a clone from a real git
// http-backend on loopback under denyCIDRs 127.0.0.0/8 is refused before
// any request reaches it, with an error that names the address and the
// rule and not the password.
func TestCloneRefusesWhatTheEgressPolicyDenies(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the git HTTP server")
	}
	srv := botServer(t, "pin-s3cret")
	auth := botAuth(t, "pin-s3cret")
	deny, err := egress.New(egress.Rules{DenyCIDRs: []string{"127.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Clone(t.Context(), srv.RepoURL("app"), auth, "main", deny)
	if err == nil || !strings.Contains(err.Error(), "(denyCIDRs 127.0.0.0/8): denied by the egress policy") || strings.Contains(err.Error(), "pin-s3cret") {
		t.Fatalf("clone under denyCIDRs 127.0.0.0/8: %v, want a refusal without the password", err)
	}
	if st := srv.Stats(); st.InfoRefs != 0 {
		t.Errorf("the denied server was asked: %+v", st)
	}
	if _, err := Clone(t.Context(), srv.RepoURL("app"), auth, "main", nil); err != nil {
		t.Fatalf("clone under the default policy: %v (the refusal above would prove nothing)", err)
	}
}

// botServer serves repository "app", one empty commit on main, to user
// bot with password.
func botServer(t *testing.T, password string) *gitserver.HTTPServer {
	t.Helper()
	repos := gitserver.NewRepos(t)
	w := repos.Create(t, "app")
	w.Commit("first")
	w.Push("main")
	return gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{Username: "bot", Password: password})
}

// botAuth is user bot with password, read from a file.
func botAuth(t *testing.T, password string) source.Auth {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return source.Auth{Username: "bot", PasswordFile: pw}
}
