package agent

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// BenchmarkDriftCorrection measures, over 20 edits of one of 20
// objects (an Update by another field manager, as `kubectl edit`
// sends), the time from the edit's answer until a watch of the object
// sees Git's value again, and reports p50 and p95. For comparison, Flux
// re-applies at its next interval (minutes) and Argo CD's self-heal
// waits for its refresh and a 5 s self-heal timeout.
func BenchmarkDriftCorrection(b *testing.B) {
	if testCluster == nil {
		b.Skip("needs the local control plane")
	}
	cs, err := testCluster.Client()
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		ns := testNS("benchdrift")
		if _, err := cs.CoreV1().Namespaces().Create(b.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		repo := newGitRepo(b)
		repo.commit("gen 0", map[string]string{"bench/Appfile": twentyObjects(ns, 0)})
		// 20 corrections of one object in a minute would make it
		// contested; the benchmark measures single corrections.
		r := startAgent(b, agentConfig(b, repo.url(), "", "drift: {contestCorrections: 100}"))
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, err := r.env("bench", "default")
			if err == nil && st.Health == "Healthy" && st.Sync == "Synced" {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("bench app not healthy: %+v %v", st, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		cms := cs.CoreV1().ConfigMaps(ns)
		var lat []time.Duration
		for i := range 20 {
			name := "cm-07"
			cm, err := cms.Get(b.Context(), name, metav1.GetOptions{})
			if err != nil {
				b.Fatal(err)
			}
			w, err := cms.Watch(b.Context(), metav1.ListOptions{FieldSelector: "metadata.name=" + name, ResourceVersion: cm.ResourceVersion})
			if err != nil {
				b.Fatal(err)
			}
			cm.Data["gen"] = "edited"
			start := time.Now()
			if _, err := cms.Update(b.Context(), cm, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
				b.Fatal(err)
			}
			answered := time.Since(start)
			back := false
			timeout := time.After(10 * time.Second)
			for !back {
				select {
				case ev := <-w.ResultChan():
					if c, ok := ev.Object.(*corev1.ConfigMap); ok && ev.Type == watch.Modified && c.Data["gen"] == "0" {
						back = true
					}
				case <-timeout:
					b.Fatalf("edit %d not undone within 10 s", i)
				}
			}
			lat = append(lat, time.Since(start)-answered)
			w.Stop()
			time.Sleep(50 * time.Millisecond)
		}
		r.stop(b)
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
	}
}
