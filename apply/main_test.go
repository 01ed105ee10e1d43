package apply

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/carina-gitops/carina/apply/internal/applytest"
	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/e2e/cluster"
)

type auditEvent = auditv1.Event

var inventoryName = inventory.Name

// testUser is the client-certificate user of the Manager under test, so
// that the audit log tells its requests apart.
const testUser = "carina-apply-test"

var (
	testCluster *cluster.Cluster
	testClient  kubernetes.Interface
	// testUserConfig is made once: cluster.UserConfig writes the user's
	// certificate to a fixed file, so concurrent calls for one user race.
	testUserConfig *rest.Config
)

// TestMain starts one control plane for the package (not in -short mode,
// where the tests that need it skip), or runs as the child process of
// TestKillConverges.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	c, err := cluster.Start(ctx, cluster.DefaultOptions())
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the control plane:", err)
		os.Exit(1)
	}
	testCluster = c
	if testUserConfig, err = c.UserConfig(testUser, "system:masters"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		c.Stop()
		os.Exit(1)
	}
	if testClient, err = c.Client(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		c.Stop()
		os.Exit(1)
	}
	code := m.Run()
	if code != 0 {
		fmt.Fprintln(os.Stderr, c.Logs(20))
	}
	c.Stop()
	os.Exit(code)
}

// skipWithoutCluster skips a test in -short mode.
func skipWithoutCluster(t testing.TB) {
	t.Helper()
	if testCluster == nil {
		t.Skip("needs the local control plane (not in -short mode)")
	}
}

// testManager returns a Manager acting as testUser.
func testManager(t testing.TB) *Manager {
	t.Helper()
	skipWithoutCluster(t)
	m, err := New(testUserConfig, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

// env is one test's namespace, app and env names.
type env struct {
	ns, app, env string
	owner        applytest.Owner
	auditStart   int
}

// newEnv creates a unique namespace for the test and notes where the
// audit log is.
func newEnv(t testing.TB) *env {
	t.Helper()
	skipWithoutCluster(t)
	base := strings.Trim(nonName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 40 {
		base = base[:40]
	}
	ns := fmt.Sprintf("%s-%04d", base, rand.IntN(10000))
	_, err := testClient.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{ns: ns, app: "app-" + ns, env: "test", auditStart: len(auditEvents(t))}
	e.owner = applytest.Owner{App: e.app, Env: e.env, Component: "web"}
	return e
}

func auditEvents(t testing.TB) []auditEvent {
	t.Helper()
	evs, err := testCluster.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// set builds a Set of e's app from objects.
func (e *env) set(objs ...*unstructured.Unstructured) *Set {
	s := &Set{App: e.app, Env: e.env, Revision: "rev1", Digest: "sha256:test"}
	for _, o := range objs {
		s.Objects = append(s.Objects, Object{Obj: o, Component: o.GetLabels()[LabelComponent]})
	}
	return s
}

// writesSince returns testUser's writes (dry-runs excluded) in e's
// namespace and on e's inventory since event n.
func (e *env) writesSince(t testing.TB, n int) []auditEvent {
	t.Helper()
	return applytest.Writes(applytest.Since(auditEvents(t), n), testUser, e.ns, DefaultOptions().InventoryNamespace, inventoryName(e.app, e.env))
}

func mustApply(t testing.TB, m *Manager, s *Set) *ChangeSet {
	t.Helper()
	cs, err := m.Apply(t.Context(), s, DefaultApplyOptions())
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return cs
}

// actions maps "Kind/ns/name" to the action taken.
func actions(cs *ChangeSet) map[string]Action {
	out := map[string]Action{}
	for _, e := range cs.Entries {
		out[e.ID.String()] = e.Action
	}
	return out
}
