package drift

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/e2e/cluster"
)

// testUser is the user of the Manager and Watcher under test, so that
// the audit log tells their requests apart.
const testUser = "carina-drift-test"

var (
	testCluster    *cluster.Cluster
	testClient     kubernetes.Interface
	testUserConfig *rest.Config
)

// TestMain starts one control plane for the package, except in -short
// mode, where the tests that need it skip.
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	opts := cluster.DefaultOptions()
	opts.Name = "drift"
	c, err := cluster.Start(ctx, opts)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the control plane:", err)
		os.Exit(1)
	}
	testCluster = c
	if testUserConfig, err = c.UserConfig(testUser, "system:masters"); err == nil {
		testClient, err = c.Client()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		c.Stop()
		os.Exit(1)
	}
	code := m.Run()
	c.Stop()
	os.Exit(code)
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

// fixture is one test's namespace, app, apply Manager and Watcher.
type fixture struct {
	ns, app, env string
	m            *apply.Manager
	w            *Watcher
	findings     chan Finding
	// health receives the (app, env) of each OnHealth call.
	health chan string
}

// newFixture makes a namespace and a running Watcher for the test.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	if testCluster == nil {
		t.Skip("needs the local control plane (not in -short mode)")
	}
	base := strings.Trim(nonName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 40 {
		base = base[:40]
	}
	ns := fmt.Sprintf("%s-%04d", base, rand.IntN(10000))
	if _, err := testClient.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := apply.New(testUserConfig, apply.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(testUserConfig)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{ns: ns, app: "app-" + ns, env: "test", m: m, findings: make(chan Finding, 100), health: make(chan string, 100)}
	opts := DefaultOptions()
	opts.Cluster = "local"
	opts.OnFinding = func(_ context.Context, fd Finding) { f.findings <- fd }
	opts.OnHealth = func(app, env string) {
		select {
		case f.health <- app + "/" + env:
		default:
		}
	}
	var mu sync.Mutex
	opts.OnError = func(err error) {
		mu.Lock()
		defer mu.Unlock()
		t.Logf("watcher error: %v", err)
	}
	f.w = NewWatcher(dyn, m, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

func (f *fixture) labels(component string) map[string]any {
	return map[string]any{apply.LabelApp: f.app, apply.LabelEnv: f.env, apply.LabelComponent: component}
}

func (f *fixture) configMap(name string, data map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": name, "namespace": f.ns, "labels": f.labels("cfg")},
		"data":     data,
	}}
}

// deployment has pods that kwok's fake nodes run, so its status keeps
// changing after the apply.
func (f *fixture) deployment(name string, replicas int64) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": name, "namespace": f.ns, "labels": f.labels("web")},
		"spec": map[string]any{
			"replicas": replicas,
			"selector": map[string]any{"matchLabels": map[string]any{"app": name}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": name}},
				"spec":     map[string]any{"containers": []any{map[string]any{"name": "app", "image": "registry.example/app:1"}}},
			},
		},
	}}
}

func (f *fixture) set(objs ...*unstructured.Unstructured) *apply.Set {
	s := &apply.Set{App: f.app, Env: f.env, Revision: "rev1", Digest: "sha256:test"}
	for _, o := range objs {
		s.Objects = append(s.Objects, apply.Object{Obj: o, Component: o.GetLabels()[apply.LabelComponent]})
	}
	return s
}

// applyAndTrack applies s the way the agent does and tracks it.
func (f *fixture) applyAndTrack(t *testing.T, s *apply.Set) {
	t.Helper()
	f.w.Pause(s.App, s.Env)
	opts := apply.DefaultApplyOptions()
	opts.Force = true
	if _, err := f.m.Apply(t.Context(), s, opts); err != nil {
		t.Fatal(err)
	}
	if err := f.w.Track(s, nil); err != nil {
		t.Fatal(err)
	}
}

// next waits for the next finding.
func (f *fixture) next(t *testing.T, within time.Duration) Finding {
	t.Helper()
	select {
	case fd := <-f.findings:
		return fd
	case <-time.After(within):
		t.Fatalf("no finding within %s", within)
		return Finding{}
	}
}

// quiet asserts that no finding arrives for a while.
func (f *fixture) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case fd := <-f.findings:
		t.Fatalf("unexpected finding: %+v", fd)
	case <-time.After(d):
	}
}

func auditCount(t *testing.T) int {
	t.Helper()
	evs, err := testCluster.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// requestsSince lists testUser's requests other than list and watch
// since event n, as "verb resource/name".
func requestsSince(t *testing.T, n int) []string {
	t.Helper()
	evs, err := testCluster.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range cluster.Select(evs[n:], cluster.Filter{User: testUser}) {
		if ev.Verb == "list" || ev.Verb == "watch" || ev.ObjectRef == nil {
			continue
		}
		out = append(out, ev.Verb+" "+ev.ObjectRef.Resource+"/"+ev.ObjectRef.Name)
	}
	return out
}
