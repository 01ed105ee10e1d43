package agent

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carina-gitops/carina/agent/config"
)

// greeterDef is a component definition of a ConfigMap whose style is
// fixed by the template, so that a change of the definition changes its
// output.
func greeterDef(name, style string) string {
	return fmt.Sprintf(`%q: {
	type: "component"
	description: "A greeting in a ConfigMap."
	attributes: workload: definition: {apiVersion: "v1", kind: "ConfigMap"}
}

template: {
	output: {
		apiVersion: "v1"
		kind:       "ConfigMap"
		metadata: name: context.name
		data: {greeting: parameter.greeting, style: %q}
	}
	parameter: {
		// +usage=What to say
		greeting: string
	}
}
`, name, style)
}

func greeterApp(name, ns, def string) string {
	return fmt.Sprintf("name: %s\nnamespace: %s\nservices:\n  %s:\n    type: %s\n    greeting: hello\n", name, ns, name, def)
}

// TestCapabilityChangeRerendersOnlyItsUsers: two apps use two
// definitions of a capability repository; a commit that changes one
// definition re-renders and re-applies only the app that uses it.
func TestCapabilityChangeRerendersOnlyItsUsers(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("caps")
	createNamespaces(t, cs, ns)
	caps := newGitRepo(t)
	caps.commit("two definitions", map[string]string{
		"greeter-a.cue": greeterDef("greeter-a", "plain"),
		"greeter-b.cue": greeterDef("greeter-b", "plain"),
	})
	apps := newGitRepo(t)
	apps.commit("two apps", map[string]string{
		"uses-a/Appfile": greeterApp("uses-a", ns, "greeter-a"),
		"uses-b/Appfile": greeterApp("uses-b", ns, "greeter-b"),
	})
	cfg := capabilityConfig(t, apps.url(), caps.url())
	r := startAgent(t, cfg)
	eventually(t, 30*time.Second, "uses-a healthy", healthyEnv(r, "uses-a", "default"))
	eventually(t, 30*time.Second, "uses-b healthy", healthyEnv(r, "uses-b", "default"))
	style := func(name string) string {
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		return cm.Data["style"]
	}
	before := renderCounts(r.metrics(t))

	caps.commit("greeter-a gets fancy", map[string]string{"greeter-a.cue": greeterDef("greeter-a", "fancy")})
	r.repo = caps.url()
	r.hook(t)
	eventually(t, 20*time.Second, "uses-a re-rendered with the new definition", func() (bool, string) {
		got := style("uses-a")
		return got == "fancy", got
	})
	eventually(t, 10*time.Second, "uses-a healthy", healthyEnv(r, "uses-a", "default"))
	after := renderCounts(r.metrics(t))
	if d := after["uses-a"] - before["uses-a"]; d < 1 {
		t.Errorf("uses-a rendered %d times after its definition changed, want at least 1", d)
	}
	if d := after["uses-b"] - before["uses-b"]; d != 0 {
		t.Errorf("uses-b rendered %d times after a change of a definition it does not use", d)
	}
	if got := style("uses-b"); got != "plain" {
		t.Errorf("uses-b style = %q, want plain", got)
	}
}

// capabilityConfig is the test agent's configuration with a capability
// repository.
func capabilityConfig(t *testing.T, appsURL, capsURL string) *config.Config {
	t.Helper()
	sources := fmt.Sprintf("apps: [{name: apps, url: %q, interval: 1h}]\n  capabilities: [{name: platform, url: %q, interval: 1h}]", appsURL, capsURL)
	_, cfg := agentConfigSources(t, sources, "", testCluster.Kubeconfig(), "127.0.0.1:0", "")
	return cfg
}
