package gitserver

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireGit skips the test when the git binary is missing.
func RequireGit(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		tb.Skip("git binary not found; install the Debian package \"git\" (make test does)")
	}
}

// Env is the environment every git command of this package runs with: no
// user or system configuration, a fixed identity and main as the default
// branch.
func Env() []string {
	env := []string{
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Carina Test",
		"GIT_AUTHOR_EMAIL=test@carina.invalid",
		"GIT_COMMITTER_NAME=Carina Test",
		"GIT_COMMITTER_EMAIL=test@carina.invalid",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_CONFIG_COUNT=2",
		"GIT_CONFIG_KEY_0=init.defaultBranch",
		"GIT_CONFIG_VALUE_0=main",
		"GIT_CONFIG_KEY_1=protocol.file.allow",
		"GIT_CONFIG_VALUE_1=always",
	}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// Git runs git with args in dir and returns its trimmed standard output.
// It fails the test when git fails.
func Git(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	out, err := RunGit(dir, nil, nil, args...)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// RunGit runs git with args in dir, with extra environment variables and an
// optional standard input, and returns its trimmed standard output.
func RunGit(dir string, extraEnv []string, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(Env(), extraEnv...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

// Repos is a directory of bare repositories named NAME.git.
type Repos struct {
	// Dir is the absolute directory that holds the bare repositories.
	Dir string
}

// NewRepos makes an empty directory of bare repositories that is removed
// when the test ends.
func NewRepos(tb testing.TB) *Repos {
	tb.Helper()
	RequireGit(tb)
	return &Repos{Dir: tb.TempDir()}
}

// Bare returns the path of the bare repository name.
func (r *Repos) Bare(name string) string {
	return filepath.Join(r.Dir, name+".git")
}

// Create makes the bare repository name and returns a working clone of it
// whose origin is the bare repository.
func (r *Repos) Create(tb testing.TB, name string) *Work {
	tb.Helper()
	bare := r.Bare(name)
	Git(tb, r.Dir, "init", "-q", "--bare", bare)
	// Let tests fetch any reachable commit by id, as GitHub does.
	Git(tb, bare, "config", "uploadpack.allowReachableSHA1InWant", "true")
	dir := tb.TempDir()
	Git(tb, dir, "init", "-q", "-b", "main")
	Git(tb, dir, "remote", "add", "origin", bare)
	return &Work{tb: tb, Dir: dir, Bare: bare, clock: time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)}
}

// Work is a working clone used to build history with real git commands.
// Every commit gets a timestamp one minute after the previous one, so
// histories are deterministic and commit times increase.
type Work struct {
	tb testing.TB
	// Dir is the working tree.
	Dir string
	// Bare is the bare repository that origin points to.
	Bare string

	mu    sync.Mutex
	clock time.Time
}

// Git runs git in the working tree.
func (w *Work) Git(args ...string) string {
	w.tb.Helper()
	return Git(w.tb, w.Dir, args...)
}

// Write writes content to the file at the slash-separated path rel,
// creating directories as needed.
func (w *Work) Write(rel, content string) {
	w.tb.Helper()
	p := filepath.Join(w.Dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.tb.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		w.tb.Fatal(err)
	}
}

// Symlink makes the file rel a symbolic link to target.
func (w *Work) Symlink(target, rel string) {
	w.tb.Helper()
	p := filepath.Join(w.Dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.tb.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		w.tb.Fatal(err)
	}
}

// Remove deletes the file or directory rel from the working tree.
func (w *Work) Remove(rel string) {
	w.tb.Helper()
	if err := os.RemoveAll(filepath.Join(w.Dir, filepath.FromSlash(rel))); err != nil {
		w.tb.Fatal(err)
	}
}

// Commit stages everything and commits it with message msg, and returns the
// new commit id.
func (w *Work) Commit(msg string) string {
	w.tb.Helper()
	w.mu.Lock()
	w.clock = w.clock.Add(time.Minute)
	date := w.clock.Format(time.RFC3339)
	w.mu.Unlock()
	w.Git("add", "-A")
	if _, err := RunGit(w.Dir, []string{"GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date}, nil,
		"commit", "-q", "--allow-empty", "-m", msg); err != nil {
		w.tb.Fatal(err)
	}
	return w.Head()
}

// Head returns the commit id of HEAD.
func (w *Work) Head() string {
	w.tb.Helper()
	return w.Git("rev-parse", "HEAD")
}

// Push pushes refspecs to origin.
func (w *Work) Push(refspecs ...string) {
	w.tb.Helper()
	w.Git(append([]string{"push", "-q", "origin"}, refspecs...)...)
}

// ForcePush force-pushes refspecs to origin.
func (w *Work) ForcePush(refspecs ...string) {
	w.tb.Helper()
	w.Git(append([]string{"push", "-q", "--force", "origin"}, refspecs...)...)
}

// Tag makes an annotated tag name at HEAD and returns the id of the tag
// object.
func (w *Work) Tag(name string) string {
	w.tb.Helper()
	w.Git("tag", "-a", "-m", "release "+name, name)
	return w.Git("rev-parse", name)
}

// FastImport feeds a `git fast-import` stream into the bare repository
// bare. It is the quick way to build a large history.
func FastImport(bare string, stream io.Reader) error {
	_, err := RunGit(bare, nil, stream, "fast-import", "--quiet")
	return err
}
