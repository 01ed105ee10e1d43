package source

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/carina-gitops/carina/e2e/gitserver"
)

// newFetcher returns a Fetcher with a fresh cache; mod may change options.
func newFetcher(t *testing.T, mod func(*Options)) *Fetcher {
	t.Helper()
	opts := DefaultOptions()
	opts.CacheDir = t.TempDir()
	if mod != nil {
		mod(&opts)
	}
	f, err := NewFetcher(opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// seedApp makes repository "app" with two files on main and pushes it.
func seedApp(t *testing.T) (*gitserver.Repos, *gitserver.Work, string) {
	t.Helper()
	repos := gitserver.NewRepos(t)
	w := repos.Create(t, "app")
	w.Write("deploy/app.yaml", "kind: Application\nname: shop\n")
	w.Write("README.md", "# shop\n")
	sha := w.Commit("first commit")
	w.Push("main")
	return repos, w, sha
}

// writeSecret writes value to a 0600 file and returns its path.
func writeSecret(t *testing.T, value string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// readFile reads name from the snapshot's FS or fails the test.
func readFile(t *testing.T, s *Snapshot, name string) string {
	t.Helper()
	b, err := fs.ReadFile(s.FS(), name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

// cacheEntries lists the repository caches on disk.
func cacheEntries(t *testing.T, f *Fetcher) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(f.opts.CacheDir, "repos"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// fetchedApp serves repos over HTTP and fetches repository "app" once,
// with a fresh Fetcher.
func fetchedApp(t *testing.T, repos *gitserver.Repos) (*Fetcher, Ref, *Snapshot) {
	t.Helper()
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{})
	f := newFetcher(t, nil)
	ref := Ref{URL: srv.RepoURL("app")}
	s, err := f.Fetch(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return f, ref, s
}

// gitCheckout returns treeListing of what git checks out of commit in
// the bare repository bare.
func gitCheckout(t *testing.T, bare, commit string) map[string]string {
	t.Helper()
	clone := t.TempDir()
	gitserver.Git(t, clone, "clone", "-q", bare, "c")
	gitserver.Git(t, filepath.Join(clone, "c"), "checkout", "-q", commit)
	return treeListing(t, filepath.Join(clone, "c"))
}
