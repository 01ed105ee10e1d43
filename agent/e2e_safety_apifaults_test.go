package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/e2e/cluster"
	"github.com/carina-gitops/carina/e2e/faultproxy"
)

// TestAPIFaultsThroughAProxy: the agent reaches the real API server
// through e2e/faultproxy, which answers writes of chosen objects with a
// 429 and Retry-After, two 503s, a reset before the write reaches the
// server and a reset after it happened. Both environments converge, and
// the audit log shows every object created exactly once.
func TestAPIFaultsThroughAProxy(t *testing.T) {
	c, cs := needCluster(t)
	ns := testNS("apifaults")
	createNamespaces(t, cs, ns+"-staging", ns+"-prod")
	const user, n = "carina-faults", 10
	up, err := c.UserConfig(user, "system:masters")
	if err != nil {
		t.Fatal(err)
	}
	p, err := faultproxy.Start(up)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := p.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	p.Add(faultproxy.Rule{Match: faultproxy.Name("configmaps", "cm-000"), Action: faultproxy.TooManyRequests, RetryAfter: 1, Times: 2})
	p.Add(faultproxy.Rule{Match: faultproxy.Name("configmaps", "cm-001"), Action: faultproxy.Unavailable, Times: 2})
	p.Add(faultproxy.Rule{Match: faultproxy.Name("configmaps", "cm-002"), Action: faultproxy.Reset})
	p.Add(faultproxy.Rule{Match: faultproxy.Name("configmaps", "cm-003"), Action: faultproxy.ResetAfterForward})

	app := ns // unique: inventories of all tests share the cluster
	repo := newGitRepo(t)
	repo.commit("app", map[string]string{"app/Appfile": strings.Replace(bigEnvAppfile(ns, n), "name: big", "name: "+app, 1)})
	r := startAgent(t, agentConfigAs(t, repo.url(), "", kc, ""))
	eventually(t, 120*time.Second, "both environments deployed through the faults", func() (bool, string) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		st, err := r.client.App(ctx, app)
		if err != nil {
			return false, err.Error()
		}
		return stepPhase(st.Workflow, "deploy-prod") == api.StepSucceeded && stepPhase(st.Workflow, "deploy-staging") == api.StepSucceeded,
			fmt.Sprintf("%+v", st.Workflow)
	})
	if got := len(p.Injected()); got < 6 {
		t.Errorf("faults injected = %d, want at least 6 (the rules did not fire): %+v", got, p.Injected())
	}
	events, err := c.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range []struct {
		ns string
		n  int
	}{{ns + "-staging", 1}, {ns + "-prod", n}} {
		creates := map[string]int{}
		for _, ev := range cluster.Select(events, cluster.Filter{User: user, Writes: true, Namespace: env.ns, Resource: "configmaps"}) {
			if !isDryRun(ev.RequestURI) && ev.ResponseStatus != nil && ev.ResponseStatus.Code == 201 {
				creates[ev.ObjectRef.Name]++
			}
		}
		list, err := cs.CoreV1().ConfigMaps(env.ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(list.Items) - 1; got != env.n { // kube-root-ca.crt
			t.Errorf("%s holds %d objects, want %d", env.ns, got, env.n)
		}
		for _, cm := range list.Items {
			if cm.Name != "kube-root-ca.crt" && creates[cm.Name] != 1 {
				t.Errorf("%s/%s created %d times (audit log), want once", env.ns, cm.Name, creates[cm.Name])
			}
		}
	}
}
