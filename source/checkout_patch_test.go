package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carina-gitops/carina/e2e/gitserver"
	"github.com/google/go-cmp/cmp"
)

// treeListing describes a directory tree as git would check it out: the
// kind, executable bit and content (or symlink target) of every path.
func treeListing(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case rel == ".":
			return nil
		case d.Name() == ".git":
			return filepath.SkipDir
		case d.IsDir():
			out[rel] = "dir"
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "link " + target
		default:
			info, err := d.Info()
			if err != nil {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = fmt.Sprintf("file x=%v %q", info.Mode()&0o100 != 0, b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestIncrementalFetchPatchesCopyOfLastTree: the tree of a new commit is
// the last tree, copied while the pack downloads and then patched; it must
// be exactly what git checks out, whatever changed.
func TestIncrementalFetchPatchesCopyOfLastTree(t *testing.T) {
	repos, w, _ := seedApp(t)
	w.Write("keep/a/one.yaml", "one\n")
	w.Write("keep/b/two.yaml", "two\n")
	w.Write("gone/deep/x.yaml", "x\n")
	w.Write("gone/y.yaml", "y\n")
	w.Write("becomes-dir", "a file first\n")
	w.Write("becomes-file/z.yaml", "z\n")
	w.Write("bin/tool.sh", "#!/bin/sh\n")
	w.Write("mod/change.yaml", "v1\n")
	w.Symlink("README.md", "link")
	w.Commit("base")
	w.Push("main")
	f, ref, first := fetchedApp(t, repos)

	w.Remove("gone")
	w.Remove("becomes-dir")
	w.Write("becomes-dir/inner.yaml", "now a directory\n")
	w.Remove("becomes-file")
	w.Write("becomes-file", "now a file\n")
	if err := os.Chmod(filepath.Join(w.Dir, "bin/tool.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	w.Write("mod/change.yaml", "v2, longer than before\n")
	w.Write("mod/new/added.yaml", "added\n")
	w.Remove("link")
	w.Symlink("deploy/app.yaml", "link")
	head := w.Commit("many kinds of change")
	w.Push("main")

	second, err := f.Fetch(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.patches.Load(); got != 1 {
		t.Fatalf("trees written by patching a copy = %d, want 1", got)
	}
	want := gitCheckout(t, w.Bare, head)
	if diff := cmp.Diff(want, treeListing(t, second.Dir)); diff != "" {
		t.Errorf("patched tree differs from git's checkout (-want +got):\n%s", diff)
	}
	var files int
	var bytes int64
	for p, v := range want {
		if v == "dir" {
			continue
		}
		info, err := os.Lstat(filepath.Join(second.Dir, p))
		if err != nil {
			t.Fatal(err)
		}
		files++
		bytes += info.Size()
	}
	if second.Files != files || second.Bytes != bytes {
		t.Errorf("stats = %d files %d bytes, want %d files %d bytes", second.Files, second.Bytes, files, bytes)
	}
	// The previous tree is untouched, and what did not change is shared.
	if got := readFile(t, first, "mod/change.yaml"); got != "v1\n" {
		t.Errorf("previous tree's mod/change.yaml = %q", got)
	}
	if _, err := os.Lstat(filepath.Join(first.Dir, "gone/y.yaml")); err != nil {
		t.Errorf("previous tree lost gone/y.yaml: %v", err)
	}
	a, _ := os.Stat(filepath.Join(first.Dir, "keep/a/one.yaml"))
	b, _ := os.Stat(filepath.Join(second.Dir, "keep/a/one.yaml"))
	if a == nil || b == nil || !os.SameFile(a, b) {
		t.Error("keep/a/one.yaml is not shared with the previous tree")
	}
	// Read-only throughout, new and changed directories included.
	err = filepath.WalkDir(second.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == second.Dir || !d.IsDir() {
			return err
		}
		if info, err := d.Info(); err != nil || info.Mode().Perm() != 0o555 {
			t.Errorf("%s mode = %v (%v), want r-xr-xr-x", p, info.Mode(), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(f.treesDir(filepath.Base(filepath.Dir(second.Dir))), ".tmp-*")); len(left) != 0 {
		t.Errorf("left behind %v", left)
	}
}

// TestPatchedTreeHonoursLimits: the limits apply to the patched tree as a
// whole, not to the copy plus what was added.
func TestPatchedTreeHonoursLimits(t *testing.T) {
	repos, w, _ := seedApp(t) // 2 files
	w.Write("a.yaml", "a\n")
	w.Commit("three files")
	w.Push("main")
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{})
	f := newFetcher(t, func(o *Options) { o.Limits.MaxFiles = 3 })
	ref := Ref{URL: srv.RepoURL("app")}
	if _, err := f.Fetch(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	// Replacing a file keeps the count at the limit.
	w.Remove("a.yaml")
	w.Write("b.yaml", "b\n")
	w.Commit("still three")
	w.Push("main")
	s, err := f.Fetch(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if s.Files != 3 || f.patches.Load() != 1 {
		t.Errorf("files = %d, trees patched = %d, want 3 and 1", s.Files, f.patches.Load())
	}
	// One more crosses it.
	w.Write("c.yaml", "c\n")
	w.Commit("four")
	w.Push("main")
	_, err = f.Fetch(t.Context(), ref)
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != LimitFiles || !strings.Contains(err.Error(), "3 files") {
		t.Fatalf("err = %v, want the file limit", err)
	}
}

// TestFailedDownloadDiscardsTreeCopy: when the pack download fails, the
// copy of the last tree made meanwhile is removed and the last tree stays.
func TestFailedDownloadDiscardsTreeCopy(t *testing.T) {
	repos, w, _ := seedApp(t)
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{})
	f := newFetcher(t, func(o *Options) { o.Limits.MaxBytes = 64 << 10 })
	ref := Ref{URL: srv.RepoURL("app")}
	first, err := f.Fetch(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	random := make([]byte, 256<<10)
	for i := range random {
		random[i] = byte(i*7919>>3) ^ byte(i>>11)
	}
	w.Write("big.bin", fmt.Sprintf("%x", random))
	w.Commit("too big to download")
	w.Push("main")
	if _, err := f.Fetch(t.Context(), ref); !errors.Is(err, ErrLimit) {
		t.Fatalf("err = %v, want a limit error", err)
	}
	left, err := filepath.Glob(filepath.Join(filepath.Dir(first.Dir), ".tmp-*"))
	if err != nil || len(left) != 0 {
		t.Errorf("left behind %v (%v)", left, err)
	}
	if got := readFile(t, first, "README.md"); got != "# shop\n" {
		t.Errorf("last tree's README.md = %q", got)
	}
}
