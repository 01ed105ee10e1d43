package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/version"

	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/health"
	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/capabilities"
	"github.com/carina-gitops/carina/render"
	"github.com/carina-gitops/carina/source"
)

// memTarget is a cluster that keeps inventories' Extra in memory and
// reports every set healthy; enough for the reconciler's decisions.
type memTarget struct {
	mu    sync.Mutex
	extra map[string]string
}

func (m *memTarget) Apply(ctx context.Context, set *apply.Set, opts apply.ApplyOptions) (*apply.ChangeSet, error) {
	return &apply.ChangeSet{App: set.App, Env: set.Env}, nil
}

func (m *memTarget) ReadInventory(ctx context.Context, app, env string) (*inventory.Inventory, error) {
	return nil, nil
}

func (m *memTarget) UpdateInventory(ctx context.Context, app, env string, fn func(*inventory.Inventory) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	inv := &inventory.Inventory{Extra: m.extra}
	if err := fn(inv); err != nil {
		return err
	}
	m.extra = inv.Extra
	return nil
}

func (m *memTarget) Health(ctx context.Context, set *apply.Set) (*apply.HealthReport, error) {
	return &apply.HealthReport{App: set.App, Env: set.Env, Status: health.Current}, nil
}

func (m *memTarget) Delete(ctx context.Context, app, env string) (*apply.ChangeSet, error) {
	return &apply.ChangeSet{}, nil
}

func (m *memTarget) ListAllInventories(ctx context.Context) ([]apply.FoundInventory, error) {
	return nil, nil
}

func (m *memTarget) kubeVersion() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.extra[extraKubeVersion]
}

// optsRecorder is a Renderer that records the options of each render and
// returns an empty result with the warnings it is given.
type optsRecorder struct {
	mu       sync.Mutex
	opts     []render.Options
	warnings []string
}

func (o *optsRecorder) Render(ctx context.Context, app *appfile.Application, env appfile.Environment, reg *capabilities.Registry, fsys fs.FS, opts render.Options) (*render.Result, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.opts = append(o.opts, opts)
	return &render.Result{App: app.Name, Env: env.Name, Digest: fmt.Sprintf("d%d", len(o.opts)), Warnings: o.warnings}, nil
}

func (o *optsRecorder) renders() []render.Options {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]render.Options(nil), o.opts...)
}

// versionRig is an agent with one in-memory cluster, a recording
// renderer, a fake /version and a clock the test moves.
type versionRig struct {
	a       *Agent
	target  *memTarget
	render  *optsRecorder
	version *fakeVersions
	clock   *testClock
	app     *desiredApp
}

func newVersionRig(t *testing.T, strict bool) *versionRig {
	t.Helper()
	cfg, err := config.Parse("carina.yaml", []byte(fmt.Sprintf(`
sources:
  apps: [{name: apps, url: "https://git.example.com/apps.git", strict: %v}]
clusters: [{name: east, inCluster: true}]
cacheDir: %s
`, strict, t.TempDir())))
	if err != nil {
		t.Fatal(err)
	}
	rig := &versionRig{target: &memTarget{}, render: &optsRecorder{}, version: newFakeVersions(),
		clock: &testClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
	rig.a, err = New(Options{Config: cfg, Targets: map[string]Target{"east": rig.target}, Renderer: rig.render,
		Logger: slog.New(slog.DiscardHandler), Now: rig.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	rig.a.versions.use(rig.version.read)
	rig.a.reconciler.released = func(app, env string) string { return "r1" }
	rig.app = &desiredApp{Name: "shop", Source: "apps", Snapshot: &source.Snapshot{Ref: "refs/heads/main", Commit: strings.Repeat("c", 40)},
		App: &appfile.Application{Name: "shop", AllowEmpty: true}, Envs: []appfile.Environment{{Name: "prod", Clusters: []string{"east"}}},
		Inputs: map[string]string{"prod": "i1"}, Release: "r1", Strict: cfg.Sources.Apps[0].Strict}
	return rig
}

func (rig *versionRig) reconcile(t *testing.T) {
	t.Helper()
	if _, err := rig.a.reconciler.reconcile(t.Context(), rig.app, "prod"); err != nil {
		t.Fatal(err)
	}
}

// TestReconcileRendersForTheClusterVersion: the reconciler renders an env
// for its cluster's version (context.clusterVersion and Helm's), records
// it in the inventory, renders again when the cluster is upgraded (once
// the cache reads the new version), and not when a read fails after a
// success.
func TestReconcileRendersForTheClusterVersion(t *testing.T) {
	rig := newVersionRig(t, false)
	rig.version.set("east", version.Info{Major: "1", Minor: "29", GitVersion: "v1.29.4", Platform: "linux/arm64"}, nil)

	rig.reconcile(t)
	got := rig.render.renders()
	if len(got) != 1 {
		t.Fatalf("%d renders, want 1", len(got))
	}
	if o := got[0]; o.KubeVersion != "v1.29.4" || o.KubePlatform != "linux/arm64" || o.Engines.KubeVersion != "v1.29.4" || o.Cluster != "east" || o.Strict {
		t.Errorf("render options: KubeVersion %q, KubePlatform %q, Helm %q, Cluster %q, Strict %v",
			o.KubeVersion, o.KubePlatform, o.Engines.KubeVersion, o.Cluster, o.Strict)
	}
	if v := rig.target.kubeVersion(); v != "v1.29.4" {
		t.Errorf("inventory records kube version %q, want v1.29.4", v)
	}

	rig.reconcile(t)
	rig.version.set("east", version.Info{Major: "1", Minor: "30", GitVersion: "v1.30.0"}, nil)
	rig.reconcile(t)
	if n := len(rig.render.renders()); n != 1 {
		t.Fatalf("%d renders while in sync and the version is cached, want 1", n)
	}

	rig.clock.add(versionRefresh)
	rig.reconcile(t)
	got = rig.render.renders()
	if len(got) != 2 || got[1].KubeVersion != "v1.30.0" {
		t.Fatalf("after the cluster's upgrade: %d renders, last for %q; want 2, for v1.30.0", len(got), got[len(got)-1].KubeVersion)
	}

	rig.version.set("east", version.Info{}, errors.New("connection refused"))
	rig.clock.add(versionRefresh)
	rig.reconcile(t)
	if n := len(rig.render.renders()); n != 2 {
		t.Errorf("%d renders after a failed read, want still 2 (the last version read holds)", n)
	}
	if e, _ := rig.a.Status().Env("shop", "prod"); len(e.Warnings) != 0 {
		t.Errorf("warnings %q, want none", e.Warnings)
	}
}

// TestReconcileWithoutClusterVersion: a cluster whose version cannot be
// read renders with the default and says so in status, next to the
// render's own warnings (each once); a strict source renders strict.
func TestReconcileWithoutClusterVersion(t *testing.T) {
	rig := newVersionRig(t, true)
	rig.version.set("east", version.Info{}, errors.New("forbidden"))
	rig.render.warnings = []string{`component "web": trait "expose" does not apply`, `component "web": trait "expose" does not apply`}

	rig.reconcile(t)
	got := rig.render.renders()
	if len(got) != 1 || got[0].KubeVersion != "" || got[0].Engines.KubeVersion != "" || !got[0].Strict {
		t.Fatalf("renders %+v, want one with the default version, strict", got)
	}
	e, ok := rig.a.Status().Env("shop", "prod")
	if !ok {
		t.Fatal("no status of shop/prod")
	}
	want := []string{`component "web": trait "expose" does not apply`,
		"context.clusterVersion is Kubernetes " + render.DefaultKubeVersion + " (the default): the version of cluster east could not be read: forbidden"}
	if strings.Join(e.Warnings, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings\n%q\nwant\n%q", e.Warnings, want)
	}
	if v := rig.target.kubeVersion(); v != "" {
		t.Errorf("inventory records kube version %q for a default render", v)
	}

	// Once the version can be read, the env renders again for it, and
	// the warning goes.
	rig.version.set("east", version.Info{Major: "1", Minor: "31", GitVersion: "v1.31.2"}, nil)
	rig.render.warnings = nil
	rig.clock.add(versionRetry)
	rig.reconcile(t)
	got = rig.render.renders()
	if len(got) != 2 || got[1].KubeVersion != "v1.31.2" {
		t.Fatalf("%d renders, last for %q; want 2, for v1.31.2", len(got), got[len(got)-1].KubeVersion)
	}
	if e, _ := rig.a.Status().Env("shop", "prod"); len(e.Warnings) != 0 {
		t.Errorf("warnings %q after a clean render, want none", e.Warnings)
	}
}
