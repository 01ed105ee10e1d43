package agent

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/carina-gitops/carina/agent/api"
)

// gadgetApp is an app of a CRD with a status subresource and one custom
// resource of it, which no controller touches: the test alone writes its
// status, as a controller would.
func gadgetApp(ns string) string {
	return fmt.Sprintf(`name: gadget
namespace: %[1]s
services:
  cfg:
    type: k8s-objects
    objects:
      - apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: gadgets.%[1]s.carina.test}
        spec:
          group: %[1]s.carina.test
          scope: Namespaced
          names: {plural: gadgets, singular: gadget, kind: Gadget}
          versions:
            - name: v1
              served: true
              storage: true
              subresources: {status: {}}
              schema:
                openAPIV3Schema:
                  type: object
                  x-kubernetes-preserve-unknown-fields: true
      - apiVersion: %[1]s.carina.test/v1
        kind: Gadget
        metadata: {name: g1}
        spec: {size: 1}
`, ns)
}

// TestHealthFollowsTheLiveObjects: an env's health is read again when
// its objects' health moves after the apply, with no new commit: Healthy
// to Degraded when the object reports Stalled, back to Healthy when it
// recovers. Bug: health was read only after an apply (and while it
// progressed), so a Healthy env stayed Healthy whatever became of its
// objects, and a Degraded one never recovered.
func TestHealthFollowsTheLiveObjects(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("hfollow")
	createNamespaces(t, cs, ns)
	repo := newGitRepo(t)
	repo.commit("gadget", map[string]string{"gadget/Appfile": gadgetApp(ns)})
	sources := fmt.Sprintf("apps: [{name: apps, url: %q, interval: 1h}]", repo.url())
	_, cfg := agentConfigSources(t, sources, "", testCluster.Kubeconfig(), "127.0.0.1:0", "")
	r := startAgent(t, cfg)
	eventually(t, 60*time.Second, "gadget healthy", healthyEnv(r, "gadget", "default"))

	dyn, err := dynamic.NewForConfig(testCluster.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	gadgets := dyn.Resource(schema.GroupVersionResource{Group: ns + ".carina.test", Version: "v1", Resource: "gadgets"}).Namespace(ns)
	setConditions := func(conds ...map[string]any) {
		t.Helper()
		g, err := gadgets.Get(t.Context(), "g1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		list := make([]any, len(conds))
		for i, c := range conds {
			list[i] = c
		}
		if err := unstructured.SetNestedField(g.Object, map[string]any{"observedGeneration": g.GetGeneration(), "conditions": list}, "status"); err != nil {
			t.Fatal(err)
		}
		if _, err := gadgets.UpdateStatus(t.Context(), g, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	envIs := func(want api.Health) func() (bool, string) {
		return func() (bool, string) {
			e, err := r.env("gadget", "default")
			if err != nil {
				return false, err.Error()
			}
			return e.Health == want && e.Sync == api.SyncSynced, fmt.Sprintf("%s %s %+v", e.Sync, e.Health, e.Components)
		}
	}

	setConditions(map[string]any{"type": "Stalled", "status": "True", "reason": "OutOfGadgets", "message": "no gadgets left"})
	eventually(t, 20*time.Second, "gadget Degraded once it is stalled", envIs(api.HealthDegraded))
	e, err := r.env("gadget", "default")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fmt.Sprintf("%+v", e.Components), "no gadgets left") {
		t.Errorf("the status does not say why: %+v", e.Components)
	}

	setConditions(map[string]any{"type": "Ready", "status": "True", "reason": "Fixed"})
	eventually(t, 20*time.Second, "gadget Healthy again once it recovers", envIs(api.HealthHealthy))
}
