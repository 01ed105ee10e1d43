package source

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/carina-gitops/carina/e2e/gitserver"
)

func TestSnapshotRefusesSymlinksThatLeaveTheRoot(t *testing.T) {
	repos := gitserver.NewRepos(t)
	w := repos.Create(t, "links")
	w.Write("app/values.yaml", "replicas: 2\n")
	w.Symlink("/etc/passwd", "passwd")
	w.Symlink("../../../../../../etc/passwd", "app/up")
	w.Symlink("values.yaml", "app/alias.yaml")
	w.Symlink("app", "dirlink")
	w.Symlink("../app", "outlink")
	w.Symlink("/", "rootlink")
	w.Commit("links")
	w.Push("main")
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{})
	s, err := newFetcher(t, nil).Fetch(t.Context(), Ref{URL: srv.RepoURL("links")})
	if err != nil {
		t.Fatal(err)
	}
	fsys := s.FS()
	for _, name := range []string{"passwd", "app/up", "rootlink/etc/passwd", "outlink/values.yaml"} {
		t.Run(name, func(t *testing.T) {
			_, err := fs.ReadFile(fsys, name)
			if !errors.Is(err, ErrOutsideRoot) {
				t.Errorf("ReadFile(%s) error = %v, want ErrOutsideRoot", name, err)
			}
			if _, err := fs.Stat(fsys, name); err == nil {
				t.Errorf("Stat(%s) succeeded through a link that leaves the root", name)
			}
		})
	}
	// Links that stay inside work.
	for name, want := range map[string]string{"app/alias.yaml": "replicas: 2\n", "dirlink/values.yaml": "replicas: 2\n"} {
		b, err := fs.ReadFile(fsys, name)
		if err != nil || string(b) != want {
			t.Errorf("ReadFile(%s) = %q, %v; want %q", name, b, err, want)
		}
	}
	for _, name := range []string{"../etc/passwd", "/etc/passwd", "app/../../x"} {
		if _, err := fsys.Open(name); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Open(%q) error = %v, want fs.ErrInvalid", name, err)
		}
	}
}

func TestDirFSRefusesFIFOWithoutHanging(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ok.yaml"), []byte("a: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("pipe", filepath.Join(dir, "pipelink")); err != nil {
		t.Fatal(err)
	}
	fsys := DirFS(dir)
	for _, name := range []string{"pipe", "pipelink"} {
		done := make(chan error, 1)
		go func() {
			_, err := fs.ReadFile(fsys, name)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) {
				t.Errorf("ReadFile(%s) error = %v, want ErrNotRegular", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("ReadFile(%s) hangs on a FIFO", name)
		}
	}
	// /dev/null is a device: a link to it leaves the root anyway, so copy
	// the check onto a device node when the test may create one.
	if os.Geteuid() == 0 {
		if err := syscall.Mknod(filepath.Join(dir, "null"), syscall.S_IFCHR|0o666, int(devNull())); err != nil {
			t.Fatal(err)
		}
		if _, err := fs.ReadFile(fsys, "null"); !errors.Is(err, ErrNotRegular) {
			t.Errorf("ReadFile(null device) error = %v, want ErrNotRegular", err)
		}
	}
	if b, err := fs.ReadFile(fsys, "ok.yaml"); err != nil || string(b) != "a: 1\n" {
		t.Errorf("ReadFile(ok.yaml) = %q, %v", b, err)
	}
}

// devNull returns the device number of /dev/null.
func devNull() uint64 {
	var st syscall.Stat_t
	if err := syscall.Stat("/dev/null", &st); err != nil {
		return 0
	}
	return st.Rdev
}

func TestSnapshotFIFOInsideTreeIsRefused(t *testing.T) {
	repos, _, _ := seedApp(t)
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{})
	s, err := newFetcher(t, nil).Fetch(t.Context(), Ref{URL: srv.RepoURL("app")})
	if err != nil {
		t.Fatal(err)
	}
	// Git cannot carry a FIFO, but the tree is on disk where anything with
	// access to it can add one; the FS must still not block on it.
	if err := os.Chmod(s.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(s.Dir, "evil"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := fs.ReadFile(s.FS(), "evil")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) {
			t.Errorf("error = %v, want ErrNotRegular", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reading a FIFO in the snapshot hangs")
	}
}

func TestDirFSPassesFSTest(t *testing.T) {
	repos, _, _ := seedApp(t)
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{})
	s, err := newFetcher(t, nil).Fetch(t.Context(), Ref{URL: srv.RepoURL("app")})
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(s.FS(), "README.md", "deploy/app.yaml"); err != nil {
		t.Fatal(err)
	}
	entries, err := fs.ReadDir(s.FS(), ".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"README.md", "deploy"}, names); diff != "" {
		t.Errorf("root entries (-want +got):\n%s", diff)
	}
	info, err := os.Stat(filepath.Join(s.Dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm()&0o222 != 0 {
		t.Errorf("snapshot file mode = %s, want read-only", info.Mode())
	}
}
