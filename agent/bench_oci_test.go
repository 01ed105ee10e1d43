package agent

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkOCIWebhookToApplied measures, over 10 pushes of a 20-object
// app to a real registry (TLS, htpasswd), the time from the signed
// registry webhook that announces a push until all 20 objects carry it,
// and reports p50 and p95. The source's interval is an hour: only the
// webhook wakes it.
func BenchmarkOCIWebhookToApplied(b *testing.B) {
	if testCluster == nil {
		b.Skip("needs the local control plane")
	}
	cs, err := testCluster.Client()
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		ns := testNS("bench-oci")
		if _, err := cs.CoreV1().Namespaces().Create(b.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		s := newOCISetup(b, false)
		const repo = "apps/bench"
		s.reg.PushFlux(b, repo, "latest", map[string]string{"bench/Appfile": twentyObjects(ns, 0)})
		r := startAgentOn(b, s.config(b, s.source("oci", repo, "")), s.ln, nil)
		waitGen := func(gen int) {
			deadline := time.Now().Add(60 * time.Second)
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
			b.Fatalf("generation %d not applied within 60 s", gen)
		}
		waitGen(0)
		var lat []time.Duration
		for gen := 1; gen <= 10; gen++ {
			time.Sleep(1100 * time.Millisecond) // the webhook queue's per-repository cooldown
			s.reg.PushFlux(b, repo, "latest", map[string]string{"bench/Appfile": twentyObjects(ns, gen)})
			start := time.Now()
			s.genericHook(b, r, repo)
			waitGen(gen)
			lat = append(lat, time.Since(start))
		}
		r.stop(b)
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*95/100].Milliseconds()), "p95-ms")
	}
}
