package render

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/capabilities"
	"github.com/carina-gitops/carina/render/pool"
)

// diskFS is a DiskFS for tests (production uses source.DirFS).
type diskFS struct {
	fs.FS
	dir string
}

func (d diskFS) DiskDir() string { return d.dir }

func openDisk(dir string) fs.FS { return diskFS{FS: os.DirFS(dir), dir: dir} }

// The test binary is its own render worker.
func TestMain(m *testing.M) {
	if pool.IsWorker() {
		pool.ServeMain(context.Background(), panicking(WorkerHandler(openDisk)))
	}
	os.Exit(m.Run())
}

func isolated(t testing.TB) *Isolated {
	t.Helper()
	opts := pool.DefaultOptions()
	opts.Workers = 1
	opts.MemoryLimit = 0 // the race detector's shadow memory would count
	p, err := pool.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return NewIsolated(p)
}

func diskInputs(t testing.TB) (*capabilities.Registry, fs.FS) {
	t.Helper()
	abs, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	defs := capabilities.Module{Source: capabilities.SourceApp, FS: openDisk(abs), Dir: "defs", Name: "testdata"}
	return testRegistry(t, defs), openDisk(filepath.Join(abs, "repo"))
}

func TestIsolatedRenderMatchesInProcess(t *testing.T) {
	reg, repo := diskInputs(t)
	app := &appfile.Application{Name: "shop", Components: []appfile.Component{
		comp("web", "webservice", 4, web(), trait("scaler", 6, map[string]any{"replicas": 3})),
	}}
	env := appfile.Environment{Name: "staging", Namespace: "shop-staging"}
	want, err := Render(t.Context(), app, env, reg, repo, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	got, err := isolated(t).Render(t.Context(), app, env, reg, repo, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != want.Digest {
		t.Errorf("digest in a worker %s, in process %s", got.Digest, want.Digest)
	}
	if diff := cmp.Diff(formatResult(t, want), formatResult(t, got)); diff != "" {
		t.Errorf("worker render differs (-in-process +worker):\n%s", diff)
	}
}

func TestIsolatedRenderErrorKeepsPosition(t *testing.T) {
	reg, repo := diskInputs(t)
	app := &appfile.Application{Name: "shop", Components: []appfile.Component{comp("web", "no-such-type", 9, nil)}}
	_, err := isolated(t).Render(t.Context(), app, appfile.Environment{Name: "default"}, reg, repo, DefaultOptions())
	var jobErr *pool.JobError
	if !errors.As(err, &jobErr) {
		t.Fatalf("want the worker's render error, got %v", err)
	}
	if want := "apps/shop/app.yaml:9:7"; !contains(err.Error(), want) || !contains(err.Error(), "no-such-type") {
		t.Errorf("error %q lacks the position %s or the type name", err, want)
	}
}

func TestIsolatedRunawayTemplateIsKilled(t *testing.T) {
	reg, repo := diskInputs(t)
	r := isolated(t)
	spin := &appfile.Application{Name: "shop", Components: []appfile.Component{comp("spin", "spin", 4, nil)}}
	opts := DefaultOptions()
	opts.Timeout = 500 * time.Millisecond
	start := time.Now()
	res, err := r.Render(t.Context(), spin, appfile.Environment{Name: "default"}, reg, repo, opts)
	if !errors.Is(err, context.DeadlineExceeded) || res != nil {
		t.Fatalf("Render = %v, %v; want no result and a deadline error", res, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %v, want about the 500ms timeout", d)
	}
	ok := &appfile.Application{Name: "shop", Components: []appfile.Component{comp("web", "webservice", 4, web())}}
	res, err = r.Render(t.Context(), ok, appfile.Environment{Name: "default"}, reg, repo, DefaultOptions())
	if err != nil || len(res.Objects) != 1 {
		t.Fatalf("the render after a runaway one = %v, %v; want one object", res, err)
	}
}

func TestIsolatedNeedsDiskTrees(t *testing.T) {
	reg := testRegistry(t, testDefs()) // os.DirFS: not a DiskFS
	app := &appfile.Application{Name: "shop", Components: []appfile.Component{comp("web", "webservice", 4, web())}}
	_, err := isolated(t).Render(t.Context(), app, appfile.Environment{Name: "default"}, reg, os.DirFS("testdata"), DefaultOptions())
	if err == nil || !contains(err.Error(), "on disk") {
		t.Fatalf("want an error about disk trees, got %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// BenchmarkIsolatedOverhead is the render worker pool's cost per render:
// the same render in process and through a warm worker.
func BenchmarkIsolatedOverhead(b *testing.B) {
	reg, repo := diskInputs(b)
	app := &appfile.Application{Name: "shop", Components: []appfile.Component{
		comp("web", "webservice", 4, web(), trait("scaler", 6, map[string]any{"replicas": 3})),
		comp("api", "webservice", 8, web()),
	}}
	env := appfile.Environment{Name: "staging", Namespace: "shop-staging"}
	b.Run("in-process", func(b *testing.B) {
		for b.Loop() {
			if _, err := Render(b.Context(), app, env, reg, repo, DefaultOptions()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("worker", func(b *testing.B) {
		r := isolated(b)
		if _, err := r.Render(b.Context(), app, env, reg, repo, DefaultOptions()); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := r.Render(b.Context(), app, env, reg, repo, DefaultOptions()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestPullRequestContext: Options.PullRequest is context.pullRequest, in
// process and through a render worker (the options cross the process
// boundary as JSON); without it, context.pullRequest is absent.
func TestPullRequestContext(t *testing.T) {
	reg, repo := diskInputs(t)
	app := &appfile.Application{Name: "shop", Components: []appfile.Component{comp("info", "pr-info", 4, nil)}}
	env := appfile.Environment{Name: "pr-42", Namespace: "shop-pr-42"}
	pr := &PullRequest{Number: 42, Branch: "feature-x", Base: "main", HeadSHA: "0123456789abcdef0123456789abcdef01234567",
		Author: "ann", Labels: []string{"preview"}}
	want := map[string]any{"number": "42", "branch": "feature-x", "base": "main",
		"headSHA": "0123456789abcdef0123456789abcdef01234567", "author": "ann", "labels": "preview"}
	w := isolated(t)
	for _, r := range []struct {
		name   string
		render func(context.Context, *appfile.Application, appfile.Environment, *capabilities.Registry, fs.FS, Options) (*Result, error)
	}{{"in process", Render}, {"in a worker", w.Render}} {
		t.Run(r.name, func(t *testing.T) {
			opts := DefaultOptions()
			opts.PullRequest = pr
			res, err := r.render(t.Context(), app, env, reg, repo, opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, res.Objects[0].Object.Object["data"]); diff != "" {
				t.Errorf("with a pull request (-want +got):\n%s", diff)
			}
			res, err = r.render(t.Context(), app, appfile.Environment{Name: "staging"}, reg, repo, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(map[string]any{"preview": "no"}, res.Objects[0].Object.Object["data"]); diff != "" {
				t.Errorf("without a pull request (-want +got):\n%s", diff)
			}
		})
	}
}
