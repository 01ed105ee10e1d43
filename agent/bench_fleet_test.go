package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/e2e/cluster"
)

// fleetAppfile is the shape of Flux's public fleet benchmark: a
// ServiceAccount, a Service, a Deployment with 0 replicas and an Ingress.
// The Service is headless: the local control plane's service range
// (10.0.0.0/24) holds fewer than 1,000 cluster IPs.
func fleetAppfile(name, ns string) string {
	return fmt.Sprintf(`name: %[1]s
namespace: %[2]s
services:
  app:
    type: k8s-objects
    objects:
      - apiVersion: apps/v1
        kind: Deployment
        metadata: {name: %[1]s}
        spec:
          replicas: 0
          selector: {matchLabels: {app: %[1]s}}
          template:
            metadata: {labels: {app: %[1]s}}
            spec:
              serviceAccountName: %[1]s
              containers: [{name: app, image: registry.example/app:1}]
      - {apiVersion: v1, kind: ServiceAccount, metadata: {name: %[1]s}}
      - apiVersion: v1
        kind: Service
        metadata: {name: %[1]s}
        spec: {clusterIP: None, selector: {app: %[1]s}, ports: [{port: 80}]}
      - apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: %[1]s}
        spec:
          rules:
            - host: %[1]s.example.com
              http:
                paths:
                  - {path: /, pathType: Prefix, backend: {service: {name: %[1]s, port: {number: 80}}}}
`, name, ns)
}

func cpuAndRSS() (time.Duration, int64) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return cpu, ru.Maxrss // KiB on Linux
}

// BenchmarkFleet applies N apps of 4 objects from one repository and
// reports the time until every app is applied and healthy, the agent's
// CPU seconds, renders, then the API requests per minute and CPU share
// of a steady state with nothing changing.
func BenchmarkFleet(b *testing.B) {
	if testCluster == nil {
		b.Skip("needs the local control plane")
	}
	for _, n := range []int{100, 500, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for range b.N {
				benchFleet(b, n)
			}
		})
	}
}

func benchFleet(b *testing.B, n int) {
	cs, err := testCluster.Client()
	if err != nil {
		b.Fatal(err)
	}
	ns := testNS(fmt.Sprintf("fleet%d", n))
	if _, err := cs.CoreV1().Namespaces().Create(b.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	repo := newGitRepo(b)
	files := map[string]string{}
	for i := range n {
		name := fmt.Sprintf("f%d-%04d", n, i)
		files["apps/"+name+"/Appfile"] = fleetAppfile(name, ns)
	}
	repo.commit("fleet", files)
	user := fmt.Sprintf("carina-fleet-%d-%d", n, time.Now().UnixNano())
	cfg := agentConfigAs(b, repo.url(), "", userKubeconfig(b, testCluster, user), "")
	cfg.Reconcile.Workers = 16
	heap0 := liveHeap()
	cpu0, _ := cpuAndRSS()
	start := time.Now()
	r := startAgent(b, cfg)
	defer r.stop(b)
	deadline := start.Add(10 * time.Minute)
	for {
		healthy := 0
		for _, a := range r.a.Status().Apps() {
			if len(a.Envs) == 1 && a.Envs[0].Health == api.HealthHealthy && a.Envs[0].Sync == api.SyncSynced {
				healthy++
			}
		}
		if healthy == n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d apps healthy after 10 minutes", healthy, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	elapsed := time.Since(start)
	cpu1, rss := cpuAndRSS()
	b.ReportMetric(elapsed.Seconds(), "s-to-healthy")
	b.ReportMetric((cpu1 - cpu0).Seconds(), "cpu-s")
	b.ReportMetric(float64(rss)/1024, "peak-rss-MiB")
	b.ReportMetric(float64(r.a.Renders()), "renders")
	// Live heap above the baseline per managed object (4 per app).
	b.ReportMetric(float64(liveHeap()-heap0)/1024/float64(4*n), "heap-KiB/object")
	if dir := os.Getenv("CARINA_BENCH_HEAP_PROFILE"); dir != "" {
		writeHeapProfile(b, filepath.Join(dir, fmt.Sprintf("fleet-%d.heap", n)))
	}
	// Steady state: once every workflow is done, force every item through
	// the loop once (as a resync does) and count the requests beyond
	// watches over a window.
	for {
		done := 0
		for _, a := range r.a.Status().Apps() {
			if app, ok := r.a.Status().App(a.Name); ok && len(app.Workflow) == 1 && app.Workflow[0].Phase == api.StepSucceeded {
				done++
			}
		}
		if done == n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d workflows done after 10 minutes", done, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	events0, _ := testCluster.AuditEvents()
	before := len(cluster.Select(events0, cluster.Filter{User: user}))
	cpuS0, _ := cpuAndRSS()
	window := 20 * time.Second
	r.a.work.add(r.a.catalog.items())
	time.Sleep(window)
	events1, _ := testCluster.AuditEvents()
	var reqs []string
	for _, ev := range cluster.Select(events1, cluster.Filter{User: user})[before:] {
		if ev.Verb != "watch" {
			reqs = append(reqs, ev.Verb+" "+ev.RequestURI)
		}
	}
	cpuS1, _ := cpuAndRSS()
	b.ReportMetric(float64(len(reqs))*float64(time.Minute)/float64(window), "steady-req/min")
	b.ReportMetric(100*(cpuS1-cpuS0).Seconds()/window.Seconds(), "steady-cpu-%")
	if len(reqs) > 0 {
		b.Logf("steady-state requests: %s", strings.Join(reqs[:min(5, len(reqs))], "; "))
	}
	idleReqs, idleCPU := idleWindow(b, r, user, window)
	b.ReportMetric(idleReqs, "idle-req/min")
	b.ReportMetric(idleCPU, "idle-cpu-%")
	sum, count := renderCost(r.metrics(b))
	if count > 0 {
		b.ReportMetric(1000*sum/count, "render-ms/app")
	}
}

// idleWindow measures, with nothing requeued and nothing changing, the
// agent's API requests per minute beyond watches and its CPU share.
func idleWindow(b *testing.B, r *running, user string, window time.Duration) (reqPerMin, cpuPct float64) {
	events0, _ := testCluster.AuditEvents()
	before := len(cluster.Select(events0, cluster.Filter{User: user}))
	cpu0, _ := cpuAndRSS()
	time.Sleep(window)
	cpu1, _ := cpuAndRSS()
	events1, _ := testCluster.AuditEvents()
	n := 0
	for _, ev := range cluster.Select(events1, cluster.Filter{User: user})[before:] {
		if ev.Verb != "watch" {
			n++
		}
	}
	return float64(n) * float64(time.Minute) / float64(window), 100 * (cpu1 - cpu0).Seconds() / window.Seconds()
}

// liveHeap is the heap in use after a full collection.
// writeHeapProfile writes the live heap to path, for finding out what a
// managed object costs (go tool pprof -sample_index=inuse_space).
func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}

func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// renderCost reads the render histogram's sum and count over every app.
func renderCost(metrics string) (sum, count float64) {
	for _, l := range strings.Split(metrics, "\n") {
		if !strings.Contains(l, `phase="render"`) {
			continue
		}
		var v float64
		fields := strings.Fields(l)
		fmt.Sscan(fields[len(fields)-1], &v)
		switch {
		case strings.HasPrefix(l, "carina_reconcile_duration_seconds_sum"):
			sum += v
		case strings.HasPrefix(l, "carina_reconcile_duration_seconds_count"):
			count += v
		}
	}
	return sum, count
}
