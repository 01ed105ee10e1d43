package agent

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carina-gitops/carina/e2e/cluster"
)

// TestReadOnlyPolicyIsNeverWritten: an object that the app declares under
// a read-only policy exists already (owned by someone else); the agent
// only checks it: the app is Synced and Healthy, the object keeps its
// data, and the audit log shows no write of the agent to it.
func TestReadOnlyPolicyIsNeverWritten(t *testing.T) {
	c, cs := needCluster(t)
	ns := testNS("readonly")
	app := ns + "-shop"
	createNamespaces(t, cs, ns)
	pre := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns}, Data: map[string]string{"greeting": "pre"}}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(t.Context(), pre, metav1.CreateOptions{FieldManager: "platform-team"}); err != nil {
		t.Fatal(err)
	}
	repo := newGitRepo(t)
	repo.commit("read-only config", map[string]string{app + "/Appfile": simpleAppfile(app, ns, "v1") + `policies:
  - name: shared-config
    type: read-only
    properties:
      rules:
        - selector: {resourceTypes: [ConfigMap]}
`})
	kc := userKubeconfig(t, c, "carina-readonly")
	r := startAgent(t, agentConfigAs(t, repo.url(), "", kc, ""))
	eventually(t, 30*time.Second, "app Synced and Healthy", healthyEnv(r, app, "default"))
	if got := configMapData(t, cs, ns, app); got != "pre" {
		t.Errorf("read-only ConfigMap data = %q, want the untouched %q", got, "pre")
	}
	events, err := c.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range cluster.Select(events, cluster.Filter{User: "carina-readonly", Writes: true, Namespace: ns, Resource: "configmaps"}) {
		if ev.ObjectRef.Name == app {
			t.Errorf("the agent wrote the read-only ConfigMap: %s %s", ev.Verb, fmt.Sprint(ev.RequestURI))
		}
	}
}
