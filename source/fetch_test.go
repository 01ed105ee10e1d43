package source

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/carina-gitops/carina/e2e/gitserver"
)

func TestFetchHTTPBasicAuthSkipsUnchangedHead(t *testing.T) {
	repos, w, sha := seedApp(t)
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{Username: "alice", Password: "s3cret-pw"})
	f := newFetcher(t, nil)
	ref := Ref{URL: srv.RepoURL("app"), Branch: "main", Path: "deploy",
		Auth: Auth{Username: "alice", PasswordFile: writeSecret(t, "s3cret-pw")}}

	s, err := f.Fetch(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	want := Snapshot{
		URL: srv.RepoURL("app"), Ref: "refs/heads/main", Commit: sha,
		Time: time.Date(2024, 1, 1, 12, 1, 0, 0, time.UTC), Message: "first commit\n",
		Path: "deploy", Dir: s.Dir, Files: 2, Bytes: int64(len("kind: Application\nname: shop\n") + len("# shop\n")),
	}
	if diff := cmp.Diff(want, *s); diff != "" {
		t.Errorf("snapshot (-want +got):\n%s", diff)
	}
	if got := readFile(t, s, "deploy/app.yaml"); got != "kind: Application\nname: shop\n" {
		t.Errorf("deploy/app.yaml = %q", got)
	}
	if got := s.Revision(); got != "main@sha1:"+sha {
		t.Errorf("Revision() = %q", got)
	}
	before := srv.Stats()

	// Unchanged head: ls-remote only, same tree, no pack negotiation.
	s2, err := f.Fetch(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Dir != s.Dir || s2.Commit != sha {
		t.Errorf("second fetch = %s in %s, want %s in %s", s2.Commit, s2.Dir, sha, s.Dir)
	}
	after := srv.Stats()
	if after.UploadPack != before.UploadPack || after.InfoRefs != before.InfoRefs+1 {
		t.Errorf("unchanged head: server stats went from %+v to %+v, want one more info/refs and no upload-pack", before, after)
	}
	if diff := cmp.Diff(FetcherStats{LsRemotes: 2, Downloads: 1, Checkouts: 1}, f.Stats()); diff != "" {
		t.Errorf("fetcher stats (-want +got):\n%s", diff)
	}

	// A new commit: incremental fetch, new tree, old tree untouched.
	w.Write("deploy/app.yaml", "kind: Application\nname: shop\nreplicas: 3\n")
	w.Remove("README.md")
	sha2 := w.Commit("scale up")
	w.Push("main")
	s3, err := f.Fetch(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if s3.Commit != sha2 || s3.Dir == s.Dir || s3.Files != 1 {
		t.Errorf("after push: commit %s files %d in %s, want %s, 1 file, a new directory", s3.Commit, s3.Files, s3.Dir, sha2)
	}
	if got := readFile(t, s3, "deploy/app.yaml"); !strings.Contains(got, "replicas: 3") {
		t.Errorf("new tree has %q", got)
	}
	if got := readFile(t, s, "README.md"); got != "# shop\n" {
		t.Errorf("old tree changed: README.md = %q", got)
	}
}

func TestFetchWrongPasswordIsClearAndSecretFree(t *testing.T) {
	repos, _, _ := seedApp(t)
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{Username: "alice", Password: "right-password"})
	const wrong = "wr0ng-Passw0rd-value"
	f := newFetcher(t, nil)
	for name, auth := range map[string]Auth{
		"file": {Username: "alice", PasswordFile: writeSecret(t, wrong)},
		"env":  {Username: "alice", PasswordEnv: "CARINA_TEST_GIT_PASSWORD"},
		"none": {},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("CARINA_TEST_GIT_PASSWORD", wrong)
			_, err := f.Fetch(t.Context(), Ref{URL: srv.RepoURL("app"), Auth: auth})
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("error = %v, want ErrAuth", err)
			}
			msg := err.Error()
			if strings.Contains(msg, wrong) {
				t.Errorf("error text holds the password: %s", msg)
			}
			if !strings.Contains(msg, "authentication failed") || !strings.Contains(msg, srv.RepoURL("app")) {
				t.Errorf("error %q does not say which repository failed to authenticate", msg)
			}
		})
	}
	if got := cacheEntries(t, f); len(got) != 0 {
		t.Errorf("a failed authentication left caches %v", got)
	}
}

func TestFetchRefKinds(t *testing.T) {
	repos := gitserver.NewRepos(t)
	w := repos.Create(t, "mono")
	w.Write("v.txt", "1.0.0")
	c100 := w.Commit("release 1.0.0")
	w.Tag("shop/v1.0.0")
	w.Git("tag", "light") // lightweight tag
	w.Write("v.txt", "1.2.0")
	c120 := w.Commit("release 1.2.0")
	w.Tag("shop/v1.2.0")
	w.Write("v.txt", "2.0.0-rc.1")
	c2rc := w.Commit("rc")
	w.Tag("shop/v2.0.0-rc.1")
	w.Write("v.txt", "other")
	cother := w.Commit("other app")
	w.Tag("cart/v9.0.0")
	w.Git("checkout", "-q", "-b", "feature", c100)
	w.Write("v.txt", "feature")
	cfeat := w.Commit("feature work")
	w.Push("main", "feature", "--tags")
	w.Push("feature:refs/pull/42/head")
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{})
	url := srv.RepoURL("mono")

	tests := []struct {
		name             string
		ref              Ref
		wantRef, wantSHA string
		wantVersion      string
	}{
		{"default branch", Ref{}, "refs/heads/main", cother, ""},
		{"branch", Ref{Branch: "feature"}, "refs/heads/feature", cfeat, ""},
		{"annotated tag", Ref{Tag: "shop/v1.2.0"}, "refs/tags/shop/v1.2.0", c120, ""},
		{"lightweight tag", Ref{Tag: "light"}, "refs/tags/light", c100, ""},
		{"semver with prefix", Ref{SemVer: ">=1.0.0 <3", TagPrefix: "shop/v"}, "refs/tags/shop/v1.2.0", c120, "1.2.0"},
		{"semver with prerelease", Ref{SemVer: ">=2.0.0-0", TagPrefix: "shop/v"}, "refs/tags/shop/v2.0.0-rc.1", c2rc, "2.0.0-rc.1"},
		{"semver pinned low", Ref{SemVer: "~1.0", TagPrefix: "shop/v"}, "refs/tags/shop/v1.0.0", c100, "1.0.0"},
		{"commit at a tip", Ref{Commit: cfeat}, cfeat, cfeat, ""},
		{"commit inside history", Ref{Commit: c2rc}, c2rc, c2rc, ""},
		{"pull request ref", Ref{Name: "refs/pull/42/head"}, "refs/pull/42/head", cfeat, ""},
	}
	f := newFetcher(t, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.ref.URL = url
			s, err := f.Fetch(t.Context(), tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{s.Ref, s.Commit, s.Version}
			if diff := cmp.Diff([]string{tc.wantRef, tc.wantSHA, tc.wantVersion}, got); diff != "" {
				t.Errorf("ref, commit, version (-want +got):\n%s", diff)
			}
			wantContent := map[string]string{c100: "1.0.0", c120: "1.2.0", c2rc: "2.0.0-rc.1", cother: "other", cfeat: "feature"}[tc.wantSHA]
			if got := readFile(t, s, "v.txt"); got != wantContent {
				t.Errorf("v.txt = %q, want %q", got, wantContent)
			}
		})
	}

	t.Run("missing refs", func(t *testing.T) {
		for _, ref := range []Ref{{Branch: "nope"}, {Tag: "v0"}, {SemVer: ">=10", TagPrefix: "shop/v"}, {Name: "refs/pull/1/head"}} {
			ref.URL = url
			if _, err := f.Fetch(t.Context(), ref); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: error = %v, want ErrNotFound", ref, err)
			}
		}
	})
	t.Run("commit refs need no network once on disk", func(t *testing.T) {
		before := f.Stats().LsRemotes
		if _, err := f.Fetch(t.Context(), Ref{URL: url, Commit: c2rc}); err != nil {
			t.Fatal(err)
		}
		if got := f.Stats().LsRemotes; got != before {
			t.Errorf("ls-remote count went from %d to %d for a commit already on disk", before, got)
		}
	})
}

func TestFetchCommitNotAdvertisedWithoutServerSupport(t *testing.T) {
	repos, w, first := seedApp(t)
	w.Write("README.md", "two\n")
	w.Commit("second")
	w.Push("main")
	gitserver.Git(t, repos.Bare("app"), "config", "uploadpack.allowReachableSHA1InWant", "false")
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{})
	f := newFetcher(t, nil)
	_, err := f.Fetch(t.Context(), Ref{URL: srv.RepoURL("app"), Commit: first})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "pin a tag") {
		t.Errorf("error = %v, want ErrNotFound that suggests a tag", err)
	}
}

func TestFetchConcurrentSameRef(t *testing.T) {
	repos, _, sha := seedApp(t)
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{})
	f := newFetcher(t, nil)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	dirs := make([]string, 8)
	for i := range errs {
		wg.Go(func() {
			s, err := f.Fetch(t.Context(), Ref{URL: srv.RepoURL("app"), Branch: "main"})
			errs[i] = err
			if err == nil {
				dirs[i] = s.Dir
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
		if dirs[i] != dirs[0] {
			t.Errorf("fetch %d got tree %s, fetch 0 got %s", i, dirs[i], dirs[0])
		}
	}
	if st := f.Stats(); st.Downloads != 1 || st.Checkouts != 1 {
		t.Errorf("stats = %+v, want one download and one checkout for %s", st, sha)
	}
}

func TestFetchPrunesOldTrees(t *testing.T) {
	repos, w, _ := seedApp(t)
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{})
	f := newFetcher(t, func(o *Options) { o.KeepSnapshots = 1; o.SnapshotTTL = time.Nanosecond })
	ref := Ref{URL: srv.RepoURL("app")}
	first, err := f.Fetch(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	w.Write("README.md", "v2\n")
	w.Commit("v2")
	w.Push("main")
	time.Sleep(10 * time.Millisecond)
	second, err := f.Fetch(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(first.Dir); !os.IsNotExist(err) {
		t.Errorf("old tree %s still on disk (err %v)", first.Dir, err)
	}
	if got := readFile(t, second, "README.md"); got != "v2\n" {
		t.Errorf("README.md = %q", got)
	}
}

func TestIncrementalFetchLinksUnchangedFiles(t *testing.T) {
	repos, w, _ := seedApp(t)
	w.Write("bin/run.sh", "#!/bin/sh\necho hi\n")
	if err := os.Chmod(filepath.Join(w.Dir, "bin/run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	w.Symlink("README.md", "LINK.md")
	w.Write("docs/a/guide.md", "# guide\n")
	w.Write("docs/a/faq.md", "# faq\n")
	w.Commit("more files")
	w.Push("main")
	f, ref, first := fetchedApp(t, repos)
	w.Write("deploy/app.yaml", "kind: Application\nname: shop\nreplicas: 9\n")
	w.Commit("change one file")
	w.Push("main")
	// A base file that is not what the tree says is written from its blob
	// instead of linked.
	if err := os.Chmod(first.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(first.Dir, "README.md")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(first.Dir, "README.md"), []byte("tampered\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The same inside a directory that did not change, whose tree is not
	// compared entry by entry.
	faq := filepath.Join(first.Dir, "docs/a/faq.md")
	if err := os.Chmod(faq, 0o644); err != nil {
		t.Fatal(err)
	}
	second, err := f.Fetch(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	same := func(name string) bool {
		a, err1 := os.Lstat(filepath.Join(first.Dir, name))
		b, err2 := os.Lstat(filepath.Join(second.Dir, name))
		return err1 == nil && err2 == nil && os.SameFile(a, b)
	}
	for name, want := range map[string]bool{
		"README.md": false, "bin/run.sh": true, "LINK.md": true, "deploy/app.yaml": false,
		"docs/a/guide.md": true, "docs/a/faq.md": false,
	} {
		if got := same(name); got != want {
			t.Errorf("%s shared with the previous tree = %v, want %v", name, got, want)
		}
	}
	if first.Files != second.Files || first.Bytes+int64(len("replicas: 9\n")) != second.Bytes {
		t.Errorf("stats: first %d files %d bytes, second %d files %d bytes", first.Files, first.Bytes, second.Files, second.Bytes)
	}
	if got := readFile(t, second, "deploy/app.yaml"); !strings.Contains(got, "replicas: 9") {
		t.Errorf("changed file = %q", got)
	}
	if got := readFile(t, second, "README.md"); got != "# shop\n" {
		t.Errorf("README.md = %q, want the committed content, not the tampered base", got)
	}
	if info, err := os.Stat(filepath.Join(second.Dir, "docs/a/faq.md")); err != nil || info.Mode().Perm() != 0o444 {
		t.Errorf("docs/a/faq.md mode = %v (%v), want r--r--r--", info.Mode(), err)
	}
	// Only what changed came over the wire: the commit, the root and
	// deploy trees, and one blob (stored loose, from a thin pack).
	loose, err := filepath.Glob(filepath.Join(f.opts.CacheDir, "repos", "*", "objects", "??", "*"))
	if err != nil || len(loose) != 4 {
		t.Errorf("incremental fetch stored %d objects (%v), want 4", len(loose), err)
	}
	info, err := os.Stat(filepath.Join(second.Dir, "bin/run.sh"))
	if err != nil || info.Mode().Perm() != 0o555 {
		t.Errorf("bin/run.sh mode = %v (%v), want r-xr-xr-x", info.Mode(), err)
	}
}
