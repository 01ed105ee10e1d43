package cluster

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSources writes a builder source tree with one local module holding
// five tiny main packages named like the real binaries, and a stage file.
func fakeSources(t *testing.T) (string, *buildPlan) {
	t.Helper()
	src := t.TempDir()
	mod := filepath.Join(src, "fake")
	write := func(rel, data string) {
		p := filepath.Join(mod, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/builder\n\ngo 1.26\n\nrequire example.com/fakebin v0.0.1\n\nreplace example.com/fakebin => ./bin\n")
	write("go.sum", "")
	write("bin/go.mod", "module example.com/fakebin\n\ngo 1.26\n")
	write("bin/stages/stage.yaml", "kind: Stage\n")
	names := []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl"}
	var pkgs []string
	for _, n := range names {
		write("bin/"+n+"/main.go", "package main\n\nfunc main() {}\n")
		pkgs = append(pkgs, "example.com/fakebin/"+n)
	}
	m := builderModule{dir: "fake", module: "example.com/fakebin", packages: pkgs}
	return src, &buildPlan{modules: []builderModule{m}, stageModule: m, stages: []string{"stages/stage.yaml"}}
}

func TestEnsureBinariesConcurrentBuildsOnce(t *testing.T) {
	src, plan := fakeSources(t)
	cache := t.TempDir()
	var wg sync.WaitGroup
	logs := make([]bytes.Buffer, 3)
	bins := make([]*Binaries, 3)
	errs := make([]error, 3)
	for i := range 3 {
		wg.Go(func() {
			bins[i], errs[i] = EnsureBinaries(t.Context(), BuildOptions{CacheDir: cache, SourceDir: src, Log: &logs[i], plan: plan})
		})
	}
	wg.Wait()
	builds := 0
	for i := range 3 {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if bins[i].Dir != bins[0].Dir {
			t.Errorf("caller %d got %s, caller 0 got %s", i, bins[i].Dir, bins[0].Dir)
		}
		if strings.Contains(logs[i].String(), "building") {
			builds++
		}
	}
	if builds != 1 {
		t.Errorf("%d builds for 3 concurrent callers, want 1", builds)
	}
	leftovers, _ := filepath.Glob(filepath.Join(cache, "k8s", ".tmp-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary build directories left behind: %v", leftovers)
	}

	var again bytes.Buffer
	if _, err := EnsureBinaries(t.Context(), BuildOptions{CacheDir: cache, SourceDir: src, Log: &again, plan: plan}); err != nil {
		t.Fatal(err)
	}
	if again.Len() != 0 {
		t.Errorf("second call rebuilt: %q", again.String())
	}
}

func TestEnsureBinariesIgnoresIncompleteCache(t *testing.T) {
	src, plan := fakeSources(t)
	cache := t.TempDir()
	bins, err := EnsureBinaries(t.Context(), BuildOptions{CacheDir: cache, SourceDir: src, plan: plan})
	if err != nil {
		t.Fatal(err)
	}
	// A crash after the rename but with a binary missing must not be trusted.
	if err := os.Remove(bins.KubeScheduler); err != nil {
		t.Fatal(err)
	}
	if _, ok := cached(bins.Dir, plan.stages); ok {
		t.Fatal("a cache with a missing binary was reported complete")
	}
}

func TestCacheKeyChangesWithVersion(t *testing.T) {
	src, plan := fakeSources(t)
	k1, _, err := cacheKey(src, plan.modules)
	if err != nil {
		t.Fatal(err)
	}
	gomod := filepath.Join(src, "fake", "go.mod")
	data, _ := os.ReadFile(gomod)
	if err := os.WriteFile(gomod, []byte(strings.ReplaceAll(string(data), "v0.0.1", "v0.0.2")), 0o644); err != nil {
		t.Fatal(err)
	}
	k2, versions, err := cacheKey(src, plan.modules)
	if err != nil {
		t.Fatal(err)
	}
	if k1 == k2 {
		t.Errorf("key %q did not change with the version", k1)
	}
	if len(versions) != 1 || versions[0] != "fake-v0.0.2" {
		t.Errorf("versions = %v, want [fake-v0.0.2]", versions)
	}
}

func TestEnsureBinariesPrunesOtherVersions(t *testing.T) {
	src, plan := fakeSources(t)
	cache := t.TempDir()
	old, err := EnsureBinaries(t.Context(), BuildOptions{CacheDir: cache, SourceDir: src, plan: plan})
	if err != nil {
		t.Fatal(err)
	}
	// The old version has not been used for a while.
	past := time.Now().Add(-2 * unusedFor)
	if err := os.Chtimes(filepath.Join(old.Dir, completeMarker), past, past); err != nil {
		t.Fatal(err)
	}
	// A crashed build of the new version left a temporary directory.
	gomod := filepath.Join(src, "fake", "go.mod")
	data, _ := os.ReadFile(gomod)
	if err := os.WriteFile(gomod, []byte(strings.ReplaceAll(string(data), "v0.0.1", "v0.0.2")), 0o644); err != nil {
		t.Fatal(err)
	}
	key, _, err := cacheKey(src, plan.modules)
	if err != nil {
		t.Fatal(err)
	}
	crashed := filepath.Join(cache, "k8s", ".tmp-"+key+"-dead")
	if err := os.MkdirAll(crashed, 0o755); err != nil {
		t.Fatal(err)
	}
	bins, err := EnsureBinaries(t.Context(), BuildOptions{CacheDir: cache, SourceDir: src, plan: plan})
	if err != nil {
		t.Fatal(err)
	}
	if bins.Dir == old.Dir {
		t.Fatal("the new version reused the old directory")
	}
	for _, gone := range []string{old.Dir, old.Dir + ".lock", crashed} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("%s still exists after building another version", gone)
		}
	}
}

func TestPruneKeepsVersionsInUse(t *testing.T) {
	root := t.TempDir()
	inUse := filepath.Join(root, "v1")
	if err := os.MkdirAll(inUse, 0o755); err != nil {
		t.Fatal(err)
	}
	unlock, err := lockFile(t.Context(), inUse+".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	past := time.Now().Add(-2 * unusedFor)
	if err := os.Chtimes(inUse, past, past); err != nil {
		t.Fatal(err)
	}
	recent := filepath.Join(root, "v0")
	if err := os.MkdirAll(recent, 0o755); err != nil {
		t.Fatal(err)
	}
	pruneOtherVersions(root, "v2")
	if _, err := os.Stat(inUse); err != nil {
		t.Errorf("a version whose lock is held was pruned: %v", err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("a recently used version was pruned: %v", err)
	}
}
