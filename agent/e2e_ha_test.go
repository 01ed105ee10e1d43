package agent

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/e2e/cluster"
)

// userKubeconfig writes a kubeconfig for a user of the test cluster, so
// that the audit log tells the agents' requests apart.
func userKubeconfig(t testing.TB, c *cluster.Cluster, user string) string {
	t.Helper()
	rc, err := c.UserConfig(user, "system:masters")
	if err != nil {
		t.Fatal(err)
	}
	return writeKubeconfig(t, rc)
}

func writeKubeconfig(t testing.TB, rc *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: rc.Host, CertificateAuthorityData: rc.CAData}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{ClientCertificateData: rc.CertData, ClientKeyData: rc.KeyData, Token: rc.BearerToken}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "c"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRestartResumesWorkflowWithoutRewrites: an agent stops while prod
// waits at its approval; a new agent reads the state back from the
// inventory, waits at the same step without rewriting staging, and a
// resume deploys prod.
func TestRestartResumesWorkflowWithoutRewrites(t *testing.T) {
	c, cs := needCluster(t)
	ns := testNS("restart")
	app := ns + "-shop"
	createNamespaces(t, cs, ns+"-staging", ns+"-prod")
	repo := newGitRepo(t)
	repo.commit("shop v1", map[string]string{app + "/Appfile": shopAppfile(app, ns, "v1")})
	first := startAgent(t, agentConfig(t, repo.url(), "", ""))
	eventually(t, 30*time.Second, "waiting at the approval", func() (bool, string) {
		app, err := first.client.App(t.Context(), app)
		return err == nil && stepPhase(app.Workflow, "approve-prod") == api.StepSuspended, fmt.Sprint(err)
	})
	first.stop(t)

	kc := userKubeconfig(t, c, "carina-restarted")
	second := startAgent(t, agentConfigAs(t, repo.url(), "", kc, ""))
	eventually(t, 30*time.Second, "the new agent waits at the same step", func() (bool, string) {
		app, err := second.client.App(t.Context(), app)
		if err != nil {
			return false, err.Error()
		}
		return stepPhase(app.Workflow, "deploy-staging") == api.StepSucceeded &&
			stepPhase(app.Workflow, "approve-prod") == api.StepSuspended, fmt.Sprintf("%+v", app.Workflow)
	})
	events, err := c.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	if w := cluster.Select(events, cluster.Filter{User: "carina-restarted", Writes: true, Namespace: ns + "-staging"}); len(w) != 0 {
		t.Errorf("the restarted agent wrote %d times to staging, want 0", len(w))
	}
	// Staging, deployed before the restart, is reconciled again by the
	// new agent: healthy, and a kubectl edit there is undone.
	eventually(t, 30*time.Second, "staging reconciled by the new agent", func() (bool, string) {
		e, err := second.env(app, "staging")
		if err != nil {
			return false, err.Error()
		}
		return e.Sync == api.SyncSynced && e.Health == api.HealthHealthy && len(e.History) > 0, fmt.Sprintf("%s %s %d", e.Sync, e.Health, len(e.History))
	})
	if err := edit(t.Context(), cs, ns+"-staging", "web", "by hand"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "edit in staging undone after the restart", func() (bool, string) {
		got := configMapData(t, cs, ns+"-staging", "web")
		return got == "v1", got
	})
	if _, err := second.client.Resume(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "prod applied after the restart", func() (bool, string) {
		got := configMapData(t, cs, ns+"-prod", "web")
		return got == "v1-prod", got
	})
}

// TestLeaderElectionFailoverAndShutdown: two agents share a Lease; only
// the leader writes; when the leader shuts down it exits within 10 s and
// releases the Lease, and the follower takes over within the lease
// duration.
func TestLeaderElectionFailoverAndShutdown(t *testing.T) {
	c, cs := needCluster(t)
	ns := testNS("ha")
	app := ns + "-shop"
	leaseNS := ns + "-lease"
	createNamespaces(t, cs, ns, leaseNS)
	repo := newGitRepo(t)
	repo.commit("v1", map[string]string{app + "/Appfile": simpleAppfile(app, ns, "v1")})
	cfgA := agentConfigAs(t, repo.url(), leaseNS, userKubeconfig(t, c, "carina-a"), "")
	cfgA.LeaderElection.Identity = "carina-a"
	a := startAgent(t, cfgA)
	eventually(t, 30*time.Second, "a leads and deploys", func() (bool, string) {
		return a.a.leading.Load() && configMapData(t, cs, ns, app) == "v1", ""
	})
	cfgB := agentConfigAs(t, repo.url(), leaseNS, userKubeconfig(t, c, "carina-b"), "")
	cfgB.LeaderElection.Identity = "carina-b"
	b := startAgent(t, cfgB)
	eventually(t, 10*time.Second, "b has its first snapshot", func() (bool, string) {
		return b.a.Ready() == nil, fmt.Sprint(b.a.Ready())
	})
	time.Sleep(2 * time.Second)
	if b.a.leading.Load() {
		t.Fatal("b leads while a holds the lease")
	}
	if _, err := b.client.Reconcile(t.Context(), app); err == nil {
		t.Error("the follower accepted a reconcile")
	}

	start := time.Now()
	a.stop(t)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the leader took %s to stop, want under 10 s", d)
	}
	lease, err := cs.CoordinationV1().Leases(leaseNS).Get(t.Context(), "carina-agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h := lease.Spec.HolderIdentity; h != nil && *h == "carina-a" {
		t.Errorf("lease still held by carina-a after shutdown")
	}
	eventually(t, cfgB.LeaderElection.LeaseDuration+cfgB.LeaderElection.RetryPeriod+time.Second, "b takes over", func() (bool, string) {
		return b.a.leading.Load(), ""
	})
	t.Logf("takeover after %s", time.Since(start))
	repo.commit("v2", map[string]string{app + "/Appfile": simpleAppfile(app, ns, "v2")})
	b.hook(t)
	eventually(t, 20*time.Second, "b deploys v2", func() (bool, string) {
		got := configMapData(t, cs, ns, app)
		return got == "v2", got
	})

	events, err := c.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	var bWritesBefore int
	for _, ev := range cluster.Select(events, cluster.Filter{User: "carina-b", Writes: true, Namespace: ns}) {
		if ev.RequestReceivedTimestamp.Time.Before(start) {
			bWritesBefore++
		}
	}
	if bWritesBefore != 0 {
		t.Errorf("the follower wrote %d times to the app namespace before it led", bWritesBefore)
	}
	if w := cluster.Select(events, cluster.Filter{User: "carina-b", Writes: true, Namespace: ns}); len(w) == 0 {
		t.Error("b wrote nothing after taking over")
	}
}
