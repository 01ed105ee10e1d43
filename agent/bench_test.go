package agent

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// twentyObjects is an app of 20 ConfigMaps whose data carries gen.
func twentyObjects(ns string, gen int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: bench\nnamespace: %s\nservices:\n  cfg:\n    type: k8s-objects\n    objects:\n", ns)
	for i := range 20 {
		fmt.Fprintf(&b, "      - {apiVersion: v1, kind: ConfigMap, metadata: {name: cm-%02d}, data: {gen: %q}}\n", i, fmt.Sprint(gen))
	}
	return b.String()
}

// BenchmarkCommitToApplied measures, over 20 commits, the time from a
// commit announced by a webhook until all 20 objects of the app carry
// it, and reports p50 and p95 (pod readiness is not involved).
func BenchmarkCommitToApplied(b *testing.B) {
	if testCluster == nil {
		b.Skip("needs the local control plane")
	}
	cs, err := testCluster.Client()
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		ns := testNS("bench")
		if _, err := cs.CoreV1().Namespaces().Create(b.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		lat := commitLatencies(b, ns, 20)
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*95/100].Milliseconds()), "p95-ms")
	}
}

func commitLatencies(b *testing.B, ns string, commits int) []time.Duration {
	cs, _ := testCluster.Client()
	repo := newGitRepo(b)
	repo.commit("gen 0", map[string]string{"bench/Appfile": twentyObjects(ns, 0)})
	cfg := agentConfig(b, repo.url(), "", "")
	r := startAgent(b, cfg)
	defer r.stop(b)
	waitGen := func(gen int) {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			list, err := cs.CoreV1().ConfigMaps(ns).List(b.Context(), metav1.ListOptions{})
			if err == nil {
				n := 0
				for _, cm := range list.Items {
					if cm.Data["gen"] == fmt.Sprint(gen) {
						n++
					}
				}
				if n == 20 {
					return
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		b.Fatalf("generation %d not applied within 30 s", gen)
	}
	waitGen(0)
	var out []time.Duration
	for gen := 1; gen <= commits; gen++ {
		// The webhook queue delivers one repository at most once a
		// second (its flood cooldown); commits a little further apart
		// measure the path itself.
		time.Sleep(1100 * time.Millisecond)
		repo.commit(fmt.Sprint("gen ", gen), map[string]string{"bench/Appfile": twentyObjects(ns, gen)})
		start := time.Now()
		r.hook(b)
		waitGen(gen)
		out = append(out, time.Since(start))
	}
	m := r.metrics(b)
	for _, phase := range []string{"render", "apply", "health"} {
		var sum, count float64
		for _, l := range strings.Split(m, "\n") {
			if !strings.Contains(l, `phase="`+phase+`"`) {
				continue
			}
			f := strings.Fields(l)
			var v float64
			fmt.Sscan(f[len(f)-1], &v)
			if strings.HasPrefix(l, "carina_reconcile_duration_seconds_sum") {
				sum += v
			} else if strings.HasPrefix(l, "carina_reconcile_duration_seconds_count") {
				count += v
			}
		}
		if count > 0 {
			b.ReportMetric(1000*sum/count, phase+"-ms")
		}
	}
	var fetchSum, fetchCount float64
	for _, l := range strings.Split(m, "\n") {
		f := strings.Fields(l)
		var v float64
		if len(f) > 1 {
			fmt.Sscan(f[len(f)-1], &v)
		}
		switch {
		case strings.HasPrefix(l, "carina_source_fetch_duration_seconds_sum"):
			fetchSum += v
		case strings.HasPrefix(l, "carina_source_fetch_duration_seconds_count"):
			fetchCount += v
		}
	}
	if fetchCount > 0 {
		b.ReportMetric(1000*fetchSum/fetchCount, "fetch-ms")
	}
	return out
}
