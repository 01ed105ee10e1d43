package agent

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carina-gitops/carina/agent/api"
)

// policyDefs are two component definitions whose health policies
// disagree with kstatus: a LoadBalancer Service (kstatus: InProgress
// forever on a cluster without load balancers) that its policy calls
// healthy, and a ConfigMap (kstatus: Current) that its policy calls
// healthy only once data.ready is "yes".
const policyDefs = `"lb-service": {
	type: "component"
	attributes: {
		workload: definition: {apiVersion: "v1", kind: "Service"}
		status: healthPolicy: "isHealth: true"
	}
}
template: {
	output: {
		apiVersion: "v1"
		kind:       "Service"
		metadata: name: context.name
		spec: {type: "LoadBalancer", selector: app: context.name, ports: [{port: 80}]}
	}
	parameter: {}
}
`

const readyDefs = `"ready-flag": {
	type: "component"
	attributes: {
		workload: definition: {apiVersion: "v1", kind: "ConfigMap"}
		status: {
			healthPolicy: "isHealth: context.output.data.ready == \"yes\""
			customStatus: "message: \"ready is \" + context.output.data.ready"
		}
	}
}
template: {
	output: {
		apiVersion: "v1"
		kind:       "ConfigMap"
		metadata: name: context.name
		data: ready: parameter.ready
	}
	parameter: ready: string
}
`

// twoEnvApp is an app of one component of type typ, deployed to staging
// and then prod.
func twoEnvApp(app, ns, typ, props string) string {
	return fmt.Sprintf(`name: %[1]s
services:
  %[1]s:
    type: %[3]s
%[4]s
environments:
  staging:
    clusters: [local]
    namespace: %[2]s-staging
  prod:
    clusters: [local]
    namespace: %[2]s-prod
`, app, ns, typ, props)
}

// TestHealthPolicyDecidesTheAgentsHealth: the agent, its workflow and
// its status honour a definition's health policy where it disagrees
// with kstatus, in both directions (bug: they rolled up the raw kstatus
// of the objects and ignored the policy).
func TestHealthPolicyDecidesTheAgentsHealth(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("hpol")
	createNamespaces(t, cs, ns+"-staging", ns+"-prod")
	repo := newGitRepo(t)
	repo.commit("apps and definitions", map[string]string{
		"defs/lb.cue":    policyDefs,
		"defs/ready.cue": readyDefs,
		"lb/Appfile":     twoEnvApp("lb", ns, "lb-service", ""),
		"gate/Appfile":   twoEnvApp("gate", ns, "ready-flag", "    ready: \"no\""),
	})
	sources := fmt.Sprintf("apps: [{name: apps, url: %q, interval: 1h, definitions: defs}]", repo.url())
	_, cfg := agentConfigSources(t, sources, "", testCluster.Kubeconfig(), "127.0.0.1:0", "")
	r := startAgent(t, cfg)

	// Healthy by policy, InProgress by kstatus: staging is Healthy and
	// the workflow goes on to prod.
	eventually(t, 60*time.Second, "lb healthy in staging and prod", func() (bool, string) {
		var out []string
		ok := true
		for _, env := range []string{"staging", "prod"} {
			e, err := r.env("lb", env)
			if err != nil {
				return false, err.Error()
			}
			ok = ok && e.Health == api.HealthHealthy && e.Sync == api.SyncSynced
			out = append(out, fmt.Sprintf("%s %s %s", env, e.Sync, e.Health))
		}
		return ok, strings.Join(out, "; ")
	})
	e, err := r.env("lb", "staging")
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Components) != 1 || e.Components[0].Health != api.HealthHealthy {
		t.Errorf("lb's component is not Healthy: %+v", e.Components)
	} else if objs := e.Components[0].Objects; len(objs) != 1 || objs[0].Health != api.HealthProgressing {
		t.Errorf("the Service itself should still show kstatus' Progressing: %+v", objs)
	}

	// Unhealthy by policy, Current by kstatus: staging is not Healthy,
	// says why, and prod is never deployed.
	eventually(t, 60*time.Second, "gate applied in staging and held", func() (bool, string) {
		e, err := r.env("gate", "staging")
		if err != nil {
			return false, err.Error()
		}
		msg := ""
		if len(e.Components) > 0 {
			msg = e.Components[0].Message
		}
		return e.Sync == api.SyncSynced && e.Health == api.HealthProgressing && strings.Contains(msg, "ready is no"),
			fmt.Sprintf("%s %s %q", e.Sync, e.Health, msg)
	})
	time.Sleep(3 * time.Second) // the workflow has had time to go on, if it would
	if _, err := cs.CoreV1().ConfigMaps(ns+"-prod").Get(t.Context(), "gate", metav1.GetOptions{}); err == nil {
		t.Error("gate was deployed to prod although its health policy says staging is not healthy")
	}
	a, err := r.client.App(t.Context(), "gate")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range a.Workflow {
		if strings.Contains(s.Name, "prod") && s.Phase == api.StepSucceeded {
			t.Errorf("prod's step %s succeeded", s.Name)
		}
	}
}
