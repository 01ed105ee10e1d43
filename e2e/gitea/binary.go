package gitea

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/carina-gitops/carina/e2e/cluster"
)

// giteaModule is the module the builder requires; its version keys the cache.
const giteaModule = "code.gitea.io/gitea"

// buildTags are Gitea's own tags for an sqlite build; no bindata, so the
// templates and options are read from the module source at run time.
const buildTags = "sqlite sqlite_unlock_notify"

// Binary is a cached Gitea build.
type Binary struct {
	// Dir is the cache directory of this build.
	Dir string
	// Path is the gitea executable.
	Path string
	// Version is the Gitea module version, "v1.26.0".
	Version string
	// StaticRoot is the Gitea module's source directory (templates,
	// options, public), used as STATIC_ROOT_PATH.
	StaticRoot string
}

// BuildOptions configures EnsureBinary.
type BuildOptions struct {
	// CacheDir is the root of Carina's cache; the build lives under
	// CacheDir/gitea/<version>-<digest>/. Default: cluster.CacheDir().
	CacheDir string
	// SourceDir is e2e/gitea/builder in the Carina checkout. Default: found
	// from cluster.RepoRoot().
	SourceDir string
	// Log receives progress lines while building. Nil discards them.
	Log io.Writer
}

func (o *BuildOptions) defaults() error {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.CacheDir == "" {
		dir, err := cluster.CacheDir()
		if err != nil {
			return err
		}
		o.CacheDir = dir
	}
	if o.SourceDir == "" {
		repo, err := cluster.RepoRoot()
		if err != nil {
			return err
		}
		o.SourceDir = filepath.Join(repo, "e2e", "gitea", "builder")
	}
	return nil
}

const (
	completeMarker = ".complete"
	staticRootFile = "static-root"
)

// EnsureBinary returns the cached Gitea build, building it first when this
// version is not cached. Concurrent callers, in this or other processes,
// serialize on a file lock; a build happens in a temporary directory that
// is renamed into place only when complete.
func EnsureBinary(ctx context.Context, opts BuildOptions) (*Binary, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	key, version, err := cacheKey(opts.SourceDir)
	if err != nil {
		return nil, err
	}
	root := filepath.Join(opts.CacheDir, "gitea")
	final := filepath.Join(root, key)
	if b, ok := cachedBinary(ctx, opts, final, version); ok {
		return b, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockFile(ctx, filepath.Join(root, key+".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	if b, ok := cachedBinary(ctx, opts, final, version); ok { // built meanwhile
		return b, nil
	}
	fmt.Fprintf(opts.Log, "building Gitea %s into %s; the first build takes several minutes\n", version, final)
	tmp := filepath.Join(root, ".tmp-"+key+"-"+randomSuffix())
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	began := time.Now()
	if _, err := goCmd(ctx, opts.SourceDir, "build", "-trimpath", "-tags", buildTags,
		"-o", filepath.Join(tmp, "gitea"), giteaModule); err != nil {
		return nil, err
	}
	fmt.Fprintf(opts.Log, "  built Gitea in %s\n", time.Since(began).Round(time.Second))
	if err := os.WriteFile(filepath.Join(tmp, completeMarker), []byte(version+"\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, fmt.Errorf("gitea cache %s: %w", final, err)
	}
	b, ok := cachedBinary(ctx, opts, final, version)
	if !ok {
		return nil, fmt.Errorf("gitea cache %s is incomplete after the build", final)
	}
	return b, nil
}

// cachedBinary returns the build in dir when it is complete, with the
// module source directory (downloaded again if the module cache lost it).
func cachedBinary(ctx context.Context, opts BuildOptions, dir, version string) (*Binary, bool) {
	marker := filepath.Join(dir, completeMarker)
	if _, err := os.Stat(marker); err != nil {
		return nil, false
	}
	b := &Binary{Dir: dir, Path: filepath.Join(dir, "gitea"), Version: version}
	if st, err := os.Stat(b.Path); err != nil || st.Mode()&0o111 == 0 {
		return nil, false
	}
	root, err := staticRoot(ctx, opts, dir)
	if err != nil {
		return nil, false
	}
	b.StaticRoot = root
	now := time.Now()
	_ = os.Chtimes(marker, now, now)
	return b, true
}

// staticRoot returns the Gitea module's directory in the module cache,
// remembered in dir/static-root; when the module cache was cleaned, it is
// downloaded again.
func staticRoot(ctx context.Context, opts BuildOptions, dir string) (string, error) {
	if data, err := os.ReadFile(filepath.Join(dir, staticRootFile)); err == nil {
		p := strings.TrimSpace(string(data))
		if _, err := os.Stat(filepath.Join(p, "templates")); err == nil {
			return p, nil
		}
	}
	out, err := goCmd(ctx, opts.SourceDir, "mod", "download", "-json", giteaModule)
	if err != nil {
		return "", err
	}
	var m struct{ Dir string }
	if err := json.Unmarshal([]byte(out), &m); err != nil || m.Dir == "" {
		return "", fmt.Errorf("gitea module directory: go mod download printed no Dir")
	}
	if err := os.WriteFile(filepath.Join(dir, staticRootFile), []byte(m.Dir+"\n"), 0o644); err != nil {
		return "", err
	}
	return m.Dir, nil
}

// cacheKey is the Gitea version, the platform and a digest of the builder's
// go.mod and go.sum, so that any change there rebuilds.
func cacheKey(srcDir string) (key, version string, err error) {
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(srcDir, f))
		if err != nil {
			return "", "", fmt.Errorf("gitea builder: %w", err)
		}
		h.Write(data)
		if f == "go.mod" {
			if version, err = requiredVersion(data, giteaModule); err != nil {
				return "", "", fmt.Errorf("%s: %w", filepath.Join(srcDir, f), err)
			}
		}
	}
	key = version + "-" + runtime.GOOS + "-" + runtime.GOARCH + "-" + hex.EncodeToString(h.Sum(nil))[:10]
	return key, version, nil
}

func requiredVersion(gomod []byte, module string) (string, error) {
	sc := bufio.NewScanner(strings.NewReader(string(gomod)))
	for sc.Scan() {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(f) >= 2 && f[0] == module {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("module %s is not required", module)
}

// goCmd runs the go command in the builder module, with cgo on (sqlite).
func goCmd(ctx context.Context, dir string, args ...string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil && os.Getenv("GOROOT") != "" {
		goBin, err = filepath.Join(os.Getenv("GOROOT"), "bin", "go"), nil
	}
	if err != nil {
		return "", fmt.Errorf("the go command is needed to build Gitea: %w", err)
	}
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOWORK=off", "GOFLAGS=-mod=readonly")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s in %s: %w\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return string(out), nil
}

// lockFile takes an exclusive flock, waiting until ctx is done.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
	case <-ctx.Done():
		f.Close()
		return nil, fmt.Errorf("waiting for lock %s: %w", path, ctx.Err())
	}
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
