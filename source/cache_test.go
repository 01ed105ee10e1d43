package source

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carina-gitops/carina/e2e/gitserver"
)

// packFiles returns the files in the cache's objects/pack with suffix.
func packFiles(t *testing.T, f *Fetcher, suffix string) []string {
	t.Helper()
	keys := cacheEntries(t, f)
	if len(keys) != 1 {
		t.Fatalf("caches = %v, want one", keys)
	}
	matches, err := filepath.Glob(filepath.Join(f.opts.CacheDir, "repos", keys[0], "objects", "pack", "*"+suffix))
	if err != nil || len(matches) == 0 {
		t.Fatalf("no %s files in the cache (%v)", suffix, err)
	}
	return matches
}

func TestFetchRepairsCorruptCache(t *testing.T) {
	tests := []struct {
		name       string
		corrupt    func(t *testing.T, f *Fetcher, cacheDir string)
		wantRepair bool
	}{
		{
			name: "garbage inside the pack",
			corrupt: func(t *testing.T, f *Fetcher, _ string) {
				for _, p := range packFiles(t, f, ".pack") {
					b, err := os.ReadFile(p)
					if err != nil {
						t.Fatal(err)
					}
					for i := 12; i < len(b)-20; i++ {
						b[i] ^= 0x5a
					}
					if err := os.WriteFile(p, b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			},
			wantRepair: true,
		},
		{
			name: "truncated pack index",
			corrupt: func(t *testing.T, f *Fetcher, _ string) {
				for _, p := range packFiles(t, f, ".idx") {
					if err := os.Truncate(p, 10); err != nil {
						t.Fatal(err)
					}
				}
			},
			wantRepair: true,
		},
		{
			name: "garbled shallow file",
			corrupt: func(t *testing.T, _ *Fetcher, dir string) {
				if err := os.WriteFile(filepath.Join(dir, "shallow"), []byte("not a hash\n\x00\x01\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "objects directory gone",
			corrupt: func(t *testing.T, _ *Fetcher, dir string) {
				if err := os.RemoveAll(filepath.Join(dir, "objects")); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			repos, w, _ := seedApp(t)
			f, ref, first := fetchedApp(t, repos)
			tc.corrupt(t, f, filepath.Join(f.opts.CacheDir, "repos", cacheEntries(t, f)[0]))
			// The next commit keeps README.md, whose blob only the damaged
			// cache holds: the checkout must read it from there.
			w.Write("deploy/app.yaml", "kind: Application\nname: shop\nreplicas: 5\n")
			want := w.Commit("scale")
			w.Push("main")
			s, err := f.Fetch(t.Context(), ref)
			if err != nil {
				t.Fatalf("fetch after corruption: %v", err)
			}
			if s.Commit != want || readFile(t, s, "README.md") != "# shop\n" ||
				!strings.Contains(readFile(t, s, "deploy/app.yaml"), "replicas: 5") {
				t.Errorf("fetch after corruption gave commit %s with wrong content", s.Commit)
			}
			if got := f.Stats().Repairs > 0; got != tc.wantRepair {
				t.Errorf("repaired = %v, want %v", got, tc.wantRepair)
			}
			if readFile(t, first, "README.md") != "# shop\n" {
				t.Error("the earlier snapshot changed")
			}
		})
	}
}

func TestFetchReclonesCacheAfterMaxCommits(t *testing.T) {
	repos, w, _ := seedApp(t)
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{})
	f := newFetcher(t, func(o *Options) { o.MaxCacheCommits = 2 })
	ref := Ref{URL: srv.RepoURL("app")}
	for i := range 5 {
		w.Write("README.md", strings.Repeat("x", i+1))
		w.Commit("change")
		w.Push("main")
		if _, err := f.Fetch(t.Context(), ref); err != nil {
			t.Fatal(err)
		}
		refs, err := filepath.Glob(filepath.Join(f.opts.CacheDir, "repos", "*", "refs", "carina", "*"))
		if err != nil {
			t.Fatal(err)
		}
		if len(refs) > 2 {
			t.Fatalf("after fetch %d the cache holds %d fetched commits, want at most 2", i, len(refs))
		}
	}
	if st := f.Stats(); st.Downloads != 5 || st.Repairs != 0 {
		t.Errorf("stats = %+v, want 5 downloads and no repairs", st)
	}
}
