package agent

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/e2e/cluster"
	"github.com/carina-gitops/carina/e2e/faultproxy"
)

// TestPartitionedLeaderStopsWritingBeforeTakeover: two agents share the
// Lease; the leader reaches the API server through e2e/faultproxy, which
// cuts it off in the middle of an apply, as a blackhole (connections
// accepted, nothing answered nor forwarded; a request its client still
// waits for at the heal is delivered late) or by resetting every
// connection. The leader stops leading before the follower takes over
// (its renew deadline runs out before its lease does), and its Run ends:
// a replica that lost its lease starts over. The follower takes over
// once the lease runs out and converges the apply. The audit log shows
// that the old leader's identity wrote nothing after the follower's
// first write, the lease included: no write it had in flight at the cut
// was delivered when the partition healed, and it wrote nothing after
// the heal.
//
// A third cut holds only the leader's Lease requests, unanswered, while
// its writes still flow: its renewals fail, and it must stop writing on
// its own before its lease runs out, not when the election code gives
// up (which first tries, for up to the renew deadline again, to release
// the lease).
func TestPartitionedLeaderStopsWritingBeforeTakeover(t *testing.T) {
	for _, mode := range []string{"blackhole", "reset", "lease-only"} {
		t.Run(mode, func(t *testing.T) { partitionedLeader(t, mode) })
	}
}

// cutLeader starts the partition mode of the proxy and returns what heals
// it.
func cutLeader(p *faultproxy.Proxy, mode string) (heal func()) {
	switch mode {
	case "blackhole":
		p.Cut(faultproxy.Blackhole)
	case "reset":
		p.Cut(faultproxy.ResetAll)
	default:
		release := make(chan struct{})
		p.Add(faultproxy.Rule{Match: func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/leases") },
			Action: faultproxy.Hold, Times: 1 << 30, Release: release})
		return func() { close(release) }
	}
	return p.Heal
}

func partitionedLeader(t *testing.T, mode string) {
	c, cs := needCluster(t)
	ns := testNS("partition")
	app := ns
	leaseNS := ns + "-lease"
	createNamespaces(t, cs, ns+"-staging", ns+"-prod", leaseNS)
	const n = 400
	repo := newGitRepo(t)
	repo.commit("nothing yet", map[string]string{"README": "apps come later\n"})
	userA, userB := "carina-partitioned-"+ns, "carina-follower-"+ns

	rcA, err := c.UserConfig(userA, "system:masters")
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := faultproxy.Start(rcA)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	kcA := filepath.Join(t.TempDir(), "kubeconfig")
	if err := proxy.WriteKubeconfig(kcA); err != nil {
		t.Fatal(err)
	}
	cfgA := agentConfigAs(t, repo.url(), leaseNS, kcA, "")
	cfgA.LeaderElection.Identity = userA
	a := startAgent(t, cfgA)
	holder := func() (string, time.Time) {
		l, err := cs.CoordinationV1().Leases(leaseNS).Get(t.Context(), config.DefaultLeaseName, metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return "", time.Time{}
		}
		var renew time.Time
		if l.Spec.RenewTime != nil {
			renew = l.Spec.RenewTime.Time
		}
		return *l.Spec.HolderIdentity, renew
	}
	eventually(t, 60*time.Second, "a leads", func() (bool, string) {
		h, _ := holder()
		return h == userA && a.a.leading.Load(), h
	})
	cfgB := agentConfigAs(t, repo.url(), leaseNS, userKubeconfig(t, c, userB), "")
	cfgB.LeaderElection.Identity = userB
	b := startAgent(t, cfgB)
	eventually(t, 60*time.Second, "b ready as a follower", func() (bool, string) {
		err := b.a.Ready()
		return err == nil, fmt.Sprint(err)
	})
	if b.a.leading.Load() {
		t.Fatal("b leads while a holds the lease")
	}

	repo.commit("a big app", map[string]string{"app/Appfile": strings.Replace(bigEnvAppfile(ns, n), "name: big", "name: "+app, 1)})
	a.hook(t)
	b.hook(t)
	count := func() int {
		list, err := cs.CoreV1().ConfigMaps(ns+"-prod").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return -1
		}
		return len(list.Items) - 1 // kube-root-ca.crt
	}
	eventually(t, 60*time.Second, "the leader's prod apply under way", func() (bool, string) {
		k := count()
		return k > 0, fmt.Sprint(k)
	})
	heal := cutLeader(proxy, mode)
	cutAt := time.Now()
	_, lastRenew := holder()
	if k := count(); k >= n {
		t.Fatalf("the cut came after the apply: %d of %d objects were written", k, n)
	} else {
		t.Logf("%s partition of the leader with %d of %d prod objects written", mode, k, n)
	}

	// Watch both at once, every 10 ms: when a stops leading, and when b
	// holds the lease.
	le := cfgA.LeaderElection
	var stoppedAt, takeover time.Time
	for deadline := time.Now().Add(le.LeaseDuration + 3*le.RetryPeriod + 15*time.Second); stoppedAt.IsZero() || takeover.IsZero(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after the cut: a stopped leading at %v, b took over at %v (zero: not yet)", stoppedAt, takeover)
		}
		if stoppedAt.IsZero() && !a.a.leading.Load() {
			stoppedAt = time.Now()
		}
		if h, _ := holder(); takeover.IsZero() && h == userB {
			takeover = time.Now()
		}
	}
	t.Logf("a stopped leading %s after the cut, %s after its last renewal; b took over %s after the cut (lease %s, renew deadline %s, retry %s)",
		stoppedAt.Sub(cutAt).Round(time.Millisecond), stoppedAt.Sub(lastRenew).Round(time.Millisecond), takeover.Sub(cutAt).Round(time.Millisecond),
		le.LeaseDuration, le.RenewDeadline, le.RetryPeriod)
	if !stoppedAt.Before(takeover) {
		t.Errorf("a still led %s after b took over", stoppedAt.Sub(takeover).Round(time.Millisecond))
	}
	select {
	case err := <-a.done:
		if err == nil || !strings.Contains(err.Error(), "lost the lease") {
			t.Errorf("a's Run ended with %v, want the lost lease", err)
		}
		a.done <- nil // stop, at the test's end, finds it ended
	case <-time.After(15 * time.Second):
		t.Errorf("a's Run did not end within 15 s of losing its lease")
	}

	// The follower writes; then the partition heals: whatever a still
	// had in flight would land now.
	eventually(t, 60*time.Second, "b writes to prod", func() (bool, string) {
		k := count()
		return k == n, fmt.Sprint(k)
	})
	heal()
	healAt := time.Now()
	eventually(t, 120*time.Second, "the apply converged under b", func() (bool, string) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		st, err := b.client.App(ctx, app)
		if err != nil {
			return false, err.Error()
		}
		return stepPhase(st.Workflow, "deploy-prod") == api.StepSucceeded && stepPhase(st.Workflow, "deploy-staging") == api.StepSucceeded,
			fmt.Sprintf("%+v", st.Workflow)
	})
	time.Sleep(3 * time.Second) // late writes of a, if any, land

	rep := proxy.Partitions()
	t.Logf("partition: %d requests held, %d abandoned by a, %d delivered at the heal, %d reset, %d connections reset",
		len(rep.Held), len(rep.Abandoned), len(rep.Released), len(rep.Reset), rep.ConnsReset)
	for _, in := range rep.Released {
		if in.Method != "GET" {
			t.Errorf("a's %s %s, held by the blackhole, was delivered at the heal", in.Method, in.Path)
		}
	}
	events, err := c.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	allA := cluster.Select(events, cluster.Filter{User: userA, Writes: true})
	allB := cluster.Select(events, cluster.Filter{User: userB, Writes: true})
	writesA, writesB := leaderWrites(events, userA, app), leaderWrites(events, userB, app)
	if len(writesA) == 0 || len(writesB) == 0 || len(allB) == 0 {
		t.Fatalf("writes in the audit log: %d by a, %d by b; want both to have written (the checks below would prove nothing)", len(writesA), len(writesB))
	}
	firstB := earliest(allB)
	var late []string
	for _, ev := range allA {
		if !ev.RequestReceivedTimestamp.Time.Before(firstB.RequestReceivedTimestamp.Time) {
			late = append(late, describe(ev))
		}
	}
	if len(late) > 0 {
		t.Errorf("a wrote %d times after b's first write (%s at %s): %v", len(late), describe(firstB), firstB.RequestReceivedTimestamp.Format("15:04:05.000000"), late)
	}
	var endA time.Time
	for _, ev := range allA {
		endA = maxTime(endA, ev.StageTimestamp.Time)
	}
	t.Logf("a's writes: %d, the last ended %s; b's first write (%s) began %s; heal at %s",
		len(allA), endA.Format("15:04:05.000000"), describe(firstB), firstB.RequestReceivedTimestamp.Format("15:04:05.000000"), healAt.Format("15:04:05.000000"))
	if !endA.Before(firstB.RequestReceivedTimestamp.Time) {
		t.Errorf("the identities' writes overlap: a's last write ended at %s, after b's first began", endA.Format("15:04:05.000000"))
	}
	if got := count(); got != n {
		t.Errorf("prod holds %d objects, want %d", got, n)
	}
	var names []string
	for i := range n {
		names = append(names, fmt.Sprintf("cm-%03d", i))
	}
	// A write forwarded just before the cut may be done by the server
	// while its answer is lost: at most one per apply worker.
	checkCreatedOnce(t, objectWrites(events, ns+"-prod", "configmaps", userA, userB), names, userA, apply.DefaultOptions().Concurrency)
}

func earliest(evs []auditv1.Event) auditv1.Event {
	first := evs[0]
	for _, ev := range evs[1:] {
		if ev.RequestReceivedTimestamp.Time.Before(first.RequestReceivedTimestamp.Time) {
			first = ev
		}
	}
	return first
}

func describe(ev auditv1.Event) string {
	if ev.ObjectRef == nil {
		return ev.Verb + " " + ev.RequestURI
	}
	return fmt.Sprintf("%s %s %s/%s", ev.Verb, ev.ObjectRef.Resource, ev.ObjectRef.Namespace, ev.ObjectRef.Name)
}
