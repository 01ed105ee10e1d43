package cluster

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Binaries holds the absolute paths of a cached control-plane build.
type Binaries struct {
	Dir                   string
	Etcd                  string
	KubeAPIServer         string
	KubeControllerManager string
	KubeScheduler         string
	Kwok                  string
	Kubectl               string
	// Stages are the kwok Stage files used by every cluster: the "fast" node
	// and pod stages, node heartbeat with lease, and the pod chaos stages
	// (which only act on pods that opt in by label).
	Stages []string
}

// BuildOptions configures EnsureBinaries.
type BuildOptions struct {
	// CacheDir is the root of Carina's cache; binaries live under
	// CacheDir/k8s/<key>/. Default: $CARINA_CACHE_DIR, else
	// os.UserCacheDir()/carina (usually ~/.cache/carina).
	CacheDir string
	// SourceDir is e2e/k8sbin in the Carina checkout. Default: found by
	// walking up from the working directory to Carina's go.mod.
	SourceDir string
	// Log receives progress lines while building. Nil discards them.
	Log io.Writer

	// plan replaces the real build plan in tests.
	plan *buildPlan
}

// buildPlan lists what to build: modules under SourceDir and the module
// whose directory holds the kwok stage files.
type buildPlan struct {
	modules     []builderModule
	stageModule builderModule
	stages      []string
}

// builderModule is one of the small modules under e2e/k8sbin.
type builderModule struct {
	dir      string   // directory under e2e/k8sbin
	module   string   // the required module whose version keys the cache
	packages []string // main packages to build
}

var defaultPlan = buildPlan{
	modules: []builderModule{
		{"kubernetes", "k8s.io/kubernetes", []string{"k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kube-controller-manager", "k8s.io/kubernetes/cmd/kube-scheduler", "k8s.io/kubernetes/cmd/kubectl"}},
		{"etcd", "go.etcd.io/etcd/server/v3", []string{"go.etcd.io/etcd/server/v3"}},
		{"kwok", "sigs.k8s.io/kwok", []string{"sigs.k8s.io/kwok/cmd/kwok"}},
	},
	stageModule: builderModule{dir: "kwok", module: "sigs.k8s.io/kwok"},
	stages:      kwokStages,
}

// kwokStages are copied from the kwok module into the cache.
var kwokStages = []string{
	"kustomize/stage/node/fast/node-initialize.yaml",
	"kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
	"kustomize/stage/pod/fast/pod-ready.yaml",
	"kustomize/stage/pod/fast/pod-complete.yaml",
	"kustomize/stage/pod/fast/pod-delete.yaml",
	"kustomize/stage/pod/chaos/pod-container-running-failed.yaml",
	"kustomize/stage/pod/chaos/pod-init-container-running-failed.yaml",
}

const completeMarker = ".complete"

// EnsureBinaries returns the cached control-plane binaries, building them
// first if this version is not cached yet. Concurrent callers, in this or
// other processes, serialize on a file lock; a build happens in a temporary
// directory that is renamed into place only when complete.
func EnsureBinaries(ctx context.Context, opts BuildOptions) (*Binaries, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	plan := opts.plan
	if plan == nil {
		plan = &defaultPlan
	}
	key, versions, err := cacheKey(opts.SourceDir, plan.modules)
	if err != nil {
		return nil, err
	}
	root := filepath.Join(opts.CacheDir, "k8s")
	final := filepath.Join(root, key)
	if bins, ok := cached(final, plan.stages); ok {
		return bins, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockFile(ctx, filepath.Join(root, key+".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	if bins, ok := cached(final, plan.stages); ok { // another process built it meanwhile
		return bins, nil
	}
	fmt.Fprintf(opts.Log, "building Kubernetes control-plane binaries (%s) into %s; the first build takes about 10 minutes\n", strings.Join(versions, ", "), final)
	tmp := filepath.Join(root, ".tmp-"+key+"-"+randomSuffix())
	if err := os.MkdirAll(filepath.Join(tmp, "stages"), 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := buildAll(ctx, opts, plan, tmp); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, completeMarker), []byte(strings.Join(versions, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, fmt.Errorf("binary cache %s: %w", final, err)
	}
	bins, ok := cached(final, plan.stages)
	if !ok {
		return nil, fmt.Errorf("binary cache %s is incomplete after the build", final)
	}
	pruneOtherVersions(root, key)
	return bins, nil
}

// unusedFor is how long a cached version must have gone unused before a
// build of another version removes it.
const unusedFor = time.Hour

// pruneOtherVersions removes, under root, the leftovers of crashed builds
// of key (the caller holds key's lock) and every other version that has
// not been used for unusedFor and whose lock nobody holds. A version in use
// by another checkout keeps being touched (see cached) and survives.
func pruneOtherVersions(root, key string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, ".tmp-"+key+"-"):
			os.RemoveAll(filepath.Join(root, name))
		case !e.IsDir() || name == key || strings.HasPrefix(name, "."):
		default:
			pruneVersion(filepath.Join(root, name))
		}
	}
}

func pruneVersion(dir string) {
	marker := filepath.Join(dir, completeMarker)
	st, err := os.Stat(marker)
	if err != nil {
		st, err = os.Stat(dir)
	}
	if err != nil || time.Since(st.ModTime()) < unusedFor {
		return
	}
	f, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return // someone is building or using it right now
	}
	os.RemoveAll(dir)
	os.Remove(dir + ".lock")
}

func (o *BuildOptions) defaults() error {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.CacheDir == "" {
		dir, err := CacheDir()
		if err != nil {
			return err
		}
		o.CacheDir = dir
	}
	if o.SourceDir == "" {
		repo, err := RepoRoot()
		if err != nil {
			return err
		}
		o.SourceDir = filepath.Join(repo, "e2e", "k8sbin")
	}
	return nil
}

// CacheDir returns Carina's cache root: $CARINA_CACHE_DIR, else
// os.UserCacheDir()/carina.
func CacheDir() (string, error) {
	if dir := os.Getenv("CARINA_CACHE_DIR"); dir != "" {
		return filepath.Abs(dir)
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("cache directory: %w", err)
	}
	return filepath.Join(dir, "carina"), nil
}

// RepoRoot finds the Carina checkout by walking up from the working
// directory, then from this source file, to Carina's go.mod.
func RepoRoot() (string, error) {
	starts := []string{}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for d := dir; ; d = filepath.Dir(d) {
			data, err := os.ReadFile(filepath.Join(d, "go.mod"))
			if err == nil && strings.HasPrefix(string(data), "module github.com/carina-gitops/carina\n") {
				return d, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", errors.New("carina checkout not found above the working directory (set BuildOptions.SourceDir)")
}

// cacheKey is the versions of the three builder modules, the platform and a
// digest of their go.mod and go.sum, so that any change rebuilds.
func cacheKey(srcDir string, modules []builderModule) (string, []string, error) {
	h := sha256.New()
	var versions []string
	for _, m := range modules {
		for _, f := range []string{"go.mod", "go.sum"} {
			data, err := os.ReadFile(filepath.Join(srcDir, m.dir, f))
			if err != nil {
				return "", nil, fmt.Errorf("binary sources: %w", err)
			}
			h.Write(data)
			if f == "go.mod" {
				v, err := requiredVersion(data, m.module)
				if err != nil {
					return "", nil, fmt.Errorf("%s: %w", filepath.Join(srcDir, m.dir, f), err)
				}
				versions = append(versions, m.dir+"-"+v)
			}
		}
	}
	key := strings.Join(versions, "_") + "_" + runtime.GOOS + "-" + runtime.GOARCH + "_" + hex.EncodeToString(h.Sum(nil))[:10]
	return key, versions, nil
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

func cached(dir string, stages []string) (*Binaries, bool) {
	if _, err := os.Stat(filepath.Join(dir, completeMarker)); err != nil {
		return nil, false
	}
	b := &Binaries{
		Dir:                   dir,
		Etcd:                  filepath.Join(dir, "etcd"),
		KubeAPIServer:         filepath.Join(dir, "kube-apiserver"),
		KubeControllerManager: filepath.Join(dir, "kube-controller-manager"),
		KubeScheduler:         filepath.Join(dir, "kube-scheduler"),
		Kwok:                  filepath.Join(dir, "kwok"),
		Kubectl:               filepath.Join(dir, "kubectl"),
	}
	for _, p := range []string{b.Etcd, b.KubeAPIServer, b.KubeControllerManager, b.KubeScheduler, b.Kwok, b.Kubectl} {
		if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
			return nil, false
		}
	}
	for _, s := range stages {
		p := filepath.Join(dir, "stages", filepath.Base(s))
		if _, err := os.Stat(p); err != nil {
			return nil, false
		}
		b.Stages = append(b.Stages, p)
	}
	now := time.Now() // last used, so builds of other versions keep it
	_ = os.Chtimes(filepath.Join(dir, completeMarker), now, now)
	return b, true
}

func buildAll(ctx context.Context, opts BuildOptions, plan *buildPlan, out string) error {
	for _, m := range plan.modules {
		fmt.Fprintf(opts.Log, "  go build %s\n", strings.Join(m.packages, " "))
		args := append([]string{"build", "-trimpath", "-o", out + string(filepath.Separator)}, m.packages...)
		if len(m.packages) == 1 {
			args = []string{"build", "-trimpath", "-o", filepath.Join(out, binaryName(m.packages[0])), m.packages[0]}
		}
		if _, err := goCmd(ctx, filepath.Join(opts.SourceDir, m.dir), args...); err != nil {
			return err
		}
	}
	sm := plan.stageModule
	modDir, err := goCmd(ctx, filepath.Join(opts.SourceDir, sm.dir), "list", "-m", "-f", "{{.Dir}}", sm.module)
	if err != nil {
		return err
	}
	for _, s := range plan.stages {
		data, err := os.ReadFile(filepath.Join(strings.TrimSpace(modDir), s))
		if err != nil {
			return fmt.Errorf("kwok stage: %w", err)
		}
		if err := os.WriteFile(filepath.Join(out, "stages", filepath.Base(s)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// binaryName maps a main package to its binary name (etcd's package is the
// module root, go.etcd.io/etcd/server/v3).
func binaryName(pkg string) string {
	if strings.HasPrefix(pkg, "go.etcd.io/etcd/server") {
		return "etcd"
	}
	return filepath.Base(pkg)
}

func goCmd(ctx context.Context, dir string, args ...string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil && os.Getenv("GOROOT") != "" {
		goBin, err = filepath.Join(os.Getenv("GOROOT"), "bin", "go"), nil
	}
	if err != nil {
		return "", fmt.Errorf("the go command is needed to build the control plane: %w", err)
	}
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=readonly")
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
		f.Close() // unblocks nothing, but the goroutine ends when the lock is granted or the fd closes
		return nil, fmt.Errorf("waiting for lock %s: %w", path, ctx.Err())
	}
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
