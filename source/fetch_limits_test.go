package source

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carina-gitops/carina/e2e/gitserver"
)

func TestFetchOverLimitsFailsClearlyAndCleansCache(t *testing.T) {
	random := make([]byte, 2<<20)
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		build   func(w *gitserver.Work)
		limits  Limits
		want    Limit
		wantMsg string
	}{
		{
			// Incompressible: the download itself crosses the cap.
			name:    "pack over size cap",
			build:   func(w *gitserver.Work) { w.Write("blob.bin", string(random)) },
			limits:  Limits{MaxBytes: 1 << 20},
			want:    LimitBytes,
			wantMsg: "repository exceeds the size limit of 1 MiB",
		},
		{
			// Compresses to a few KiB: the checkout crosses the cap.
			name:    "tree over size cap",
			build:   func(w *gitserver.Work) { w.Write("zeros.txt", strings.Repeat("0", 2<<20)) },
			limits:  Limits{MaxBytes: 1 << 20},
			want:    LimitBytes,
			wantMsg: "repository exceeds the size limit of 1 MiB",
		},
		{
			name: "too many files",
			build: func(w *gitserver.Work) {
				for i := range 30 {
					w.Write(fmt.Sprintf("f/%02d.yaml", i), "x")
				}
			},
			limits:  Limits{MaxFiles: 10},
			want:    LimitFiles,
			wantMsg: "repository exceeds the limit of 10 files",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			repos := gitserver.NewRepos(t)
			w := repos.Create(t, "big")
			tc.build(w)
			w.Commit("big")
			w.Push("main")
			srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{})
			f := newFetcher(t, func(o *Options) { o.Limits = tc.limits })
			_, err := f.Fetch(t.Context(), Ref{URL: srv.RepoURL("big")})
			var le *LimitError
			if !errors.As(err, &le) || le.Limit != tc.want || !errors.Is(err, ErrLimit) {
				t.Fatalf("error = %v, want a %s LimitError", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not say %q", err, tc.wantMsg)
			}
			if got := cacheEntries(t, f); len(got) != 0 {
				t.Errorf("repository caches left after the limit: %v", got)
			}
			if left := treeLeftovers(t, f); len(left) != 0 {
				t.Errorf("snapshot trees left after the limit: %v", left)
			}
			// A limit is not a fault of the cache: no repair, no second
			// download.
			if st := f.Stats(); st.Repairs != 0 || st.Downloads != 1 {
				t.Errorf("repairs %d, downloads %d after the limit; want 0 and 1", st.Repairs, st.Downloads)
			}
		})
	}
}

func treeLeftovers(t *testing.T, f *Fetcher) []string {
	t.Helper()
	var out []string
	root := filepath.Join(f.opts.CacheDir, "trees")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root && filepath.Dir(p) != root {
			out = append(out, strings.TrimPrefix(p, root))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFetchTimeLimit(t *testing.T) {
	repos, _, _ := seedApp(t)
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{OnRequest: func(r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}})
	f := newFetcher(t, nil)
	start := time.Now()
	_, err := f.Fetch(t.Context(), Ref{URL: srv.RepoURL("app"), Timeout: 200 * time.Millisecond})
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != LimitTime {
		t.Fatalf("error = %v, want a time LimitError", err)
	}
	if !strings.Contains(err.Error(), "fetch exceeded the time limit of 200ms") {
		t.Errorf("error = %q", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("fetch took %s despite a 200ms limit", d)
	}

	// A caller that cancels gets its own error back, not a limit.
	ctx, cancel := context.WithCancel(t.Context())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	_, err = f.Fetch(ctx, Ref{URL: srv.RepoURL("app")})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrLimit) {
		t.Errorf("canceled fetch: error = %v, want context.Canceled and no limit", err)
	}
}
