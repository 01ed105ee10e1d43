package apply

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/carina-gitops/carina/apply/internal/applytest"
)

// benchObjects is the size of the benchmark sets: ConfigMaps, Deployments
// and Services in turn.
const benchObjects = 1000

// BenchmarkColdApply applies 1,000 objects to an empty namespace three
// ways in every iteration, in turn and against the same API server:
// Carina, a minimal raw client-go server-side-apply loop with 32 workers
// (the physical limit), and kubectl apply --server-side --validate=false.
// It reports each one's objects per second and Carina's ratios.
func BenchmarkColdApply(b *testing.B) {
	m := testManager(b)
	raw := rawClient(b)
	runs := map[string]func(*env, []*unstructured.Unstructured){
		"carina":  func(e *env, objs []*unstructured.Unstructured) { mustApply(b, m, e.set(objs...)) },
		"raw":     func(e *env, objs []*unstructured.Unstructured) { rawApply(b, raw, objs) },
		"kubectl": func(e *env, objs []*unstructured.Unstructured) { kubectlApply(b, objs) },
	}
	order := []string{"carina", "raw", "kubectl"}
	spent := map[string]time.Duration{}
	for i := 0; b.Loop(); i++ {
		for k := range order {
			name := order[(i+k)%len(order)]
			e := newEnv(b)
			objs := e.owner.Mixed(e.ns, "obj", benchObjects)
			start := time.Now()
			runs[name](e, objs)
			spent[name] += time.Since(start)
			settle(b, e.ns)
		}
	}
	rate := func(name string) float64 { return float64(benchObjects*b.N) / spent[name].Seconds() }
	for _, name := range order {
		b.ReportMetric(rate(name), name+"-obj/s")
	}
	b.ReportMetric(rate("carina")/rate("raw"), "carina/raw")
	b.ReportMetric(rate("carina")/rate("kubectl"), "carina/kubectl")
}

// BenchmarkReapply re-applies the same 1,000 unchanged objects, and
// reports the API requests per apply by verb from the audit log, and the
// time of a raw loop of 1,000 server-side applies for comparison.
func BenchmarkReapply(b *testing.B) {
	m := testManager(b)
	e := newEnv(b)
	objs := e.owner.Mixed(e.ns, "obj", benchObjects)
	s := e.set(objs...)
	mustApply(b, m, s)
	settle(b, e.ns)
	mark := len(auditEvents(b))
	var spent time.Duration
	for b.Loop() {
		start := time.Now()
		cs := mustApply(b, m, s)
		spent += time.Since(start)
		if n := cs.Count(Unchanged); n != benchObjects {
			b.Fatalf("re-apply: %s", cs.Summary())
		}
	}
	requests := map[string]int{}
	for _, ev := range applytest.Since(auditEvents(b), mark) {
		if ev.User.Username != testUser || ev.ObjectRef == nil || (ev.ObjectRef.Namespace != e.ns && ev.ObjectRef.Name != inventoryName(e.app, e.env)) {
			continue
		}
		verb := ev.Verb
		if applytest.DryRun(ev) {
			verb = "dry-run"
		}
		requests[verb]++
	}
	for _, verb := range []string{"list", "get", "dry-run", "patch", "create", "update", "delete"} {
		b.ReportMetric(float64(requests[verb])/float64(b.N), verb+"/apply")
	}
	raw := rawClient(b)
	start := time.Now()
	rawApply(b, raw, objs)
	rawTime := time.Since(start)
	b.ReportMetric(spent.Seconds()/float64(b.N), "carina-s/apply")
	b.ReportMetric(rawTime.Seconds(), "raw-ssa-s/apply")
}

// BenchmarkPrune prunes 1,000 objects (an empty set with allowEmpty) and
// reports the time of the apply, which requests the deletes, and the time
// until the garbage collector removed every object (foreground deletion).
func BenchmarkPrune(b *testing.B) {
	m := testManager(b)
	var pruneTime, goneTime time.Duration
	for b.Loop() {
		e := newEnv(b)
		mustApply(b, m, e.set(e.owner.Mixed(e.ns, "obj", benchObjects)...))
		settle(b, e.ns)
		empty := e.set()
		empty.AllowEmpty = true
		start := time.Now()
		cs := mustApply(b, m, empty)
		pruneTime += time.Since(start)
		if n := cs.Count(Pruned); n != benchObjects {
			b.Fatalf("prune: %s", cs.Summary())
		}
		waitGone(b, e.ns)
		goneTime += time.Since(start)
	}
	b.ReportMetric(pruneTime.Seconds()/float64(b.N), "prune-s")
	b.ReportMetric(goneTime.Seconds()/float64(b.N), "gone-s")
}

// BenchmarkClientQPS applies 300 ConfigMaps with client-side rate limits
// from 50 requests per second to none (the default), to show where the
// limit stops throttling.
func BenchmarkClientQPS(b *testing.B) {
	for _, qps := range []float32{50, 200, 1000, -1} {
		b.Run(fmt.Sprintf("qps=%g", qps), func(b *testing.B) {
			opts := DefaultOptions()
			opts.QPS, opts.Burst = qps, int(2*max(qps, 0))
			m, err := New(testUserConfig, opts)
			if err != nil {
				b.Fatal(err)
			}
			var spent time.Duration
			for b.Loop() {
				e := newEnv(b)
				s := e.set(e.owner.ConfigMaps(e.ns, "cm", 300)...)
				start := time.Now()
				mustApply(b, m, s)
				spent += time.Since(start)
			}
			b.ReportMetric(float64(300*b.N)/spent.Seconds(), "obj/s")
		})
	}
}

// rawClient is a dynamic client without a client-side rate limit.
func rawClient(b testing.TB) dynamic.Interface {
	cfg, err := testCluster.UserConfig("carina-bench-raw", "system:masters")
	if err != nil {
		b.Fatal(err)
	}
	cfg.QPS = -1
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// rawResources are the resources of the benchmark's kinds.
var rawResources = map[string]schema.GroupVersionResource{
	"ConfigMap":  {Version: "v1", Resource: "configmaps"},
	"Service":    {Version: "v1", Resource: "services"},
	"Deployment": {Group: "apps", Version: "v1", Resource: "deployments"},
}

// rawApply server-side applies objects with 32 workers: the minimal loop.
func rawApply(b testing.TB, d dynamic.Interface, objs []*unstructured.Unstructured) {
	work := make(chan *unstructured.Unstructured)
	errs := make(chan error, len(objs))
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range work {
				body, err := json.Marshal(u.Object)
				if err == nil {
					_, err = d.Resource(rawResources[u.GetKind()]).Namespace(u.GetNamespace()).Patch(context.Background(), u.GetName(),
						types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: "raw", Force: ptr(true)})
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	for _, u := range objs {
		work <- u
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// kubectlApply runs kubectl apply --server-side --validate=false on the
// objects as one YAML file.
func kubectlApply(b *testing.B, objs []*unstructured.Unstructured) {
	y, err := applytest.YAML(objs)
	if err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(b.TempDir(), "objects.yaml")
	if err := os.WriteFile(file, y, 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(testCluster.Binaries().Kubectl, "--kubeconfig", testCluster.Kubeconfig(),
		"apply", "--server-side", "--validate=false", "-f", file)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		b.Fatalf("kubectl: %v\n%s", err, out.String())
	}
}

// settle waits until the controller manager has made a ReplicaSet for
// every Deployment in ns, so that its work does not weigh on the next
// measurement.
func settle(b testing.TB, ns string) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		deps, err1 := testClient.AppsV1().Deployments(ns).List(b.Context(), metav1.ListOptions{})
		rss, err2 := testClient.AppsV1().ReplicaSets(ns).List(b.Context(), metav1.ListOptions{})
		if err1 == nil && err2 == nil && len(rss.Items) >= len(deps.Items) {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	b.Logf("namespace %s did not settle", ns)
}

// waitGone waits until no labelled ConfigMap, Deployment or Service is left
// in ns.
func waitGone(b *testing.B, ns string) {
	sel := metav1.ListOptions{LabelSelector: LabelApp}
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		cms, err1 := testClient.CoreV1().ConfigMaps(ns).List(b.Context(), sel)
		deps, err2 := testClient.AppsV1().Deployments(ns).List(b.Context(), sel)
		svcs, err3 := testClient.CoreV1().Services(ns).List(b.Context(), sel)
		if err1 == nil && err2 == nil && err3 == nil && len(cms.Items)+len(deps.Items)+len(svcs.Items) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatalf("namespace %s: pruned objects still there after 5 minutes", ns)
}
