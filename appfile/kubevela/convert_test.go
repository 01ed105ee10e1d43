package kubevela

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/carina-gitops/carina/appfile"
)

// live is an Application as the API server returns it after KubeVela ran.
const live = `
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: shop
  namespace: prod
  uid: 0b1c
  resourceVersion: "812"
  generation: 3
  creationTimestamp: "2026-01-02T03:04:05Z"
  finalizers: [app.oam.dev/resource-tracker-finalizer]
  managedFields: [{manager: kubectl, operation: Update}]
  labels: {team: storefront, app.oam.dev/appRevision: shop-v3}
  annotations:
    app.oam.dev/publishVersion: "42"
    app.oam.dev/revision-hash: abc
    oam.dev/kubevela-version: v1.10.0
    kubectl.kubernetes.io/last-applied-configuration: '{}'
    owner: payments
spec:
  components:
    - name: web
      type: webservice
      properties: {image: "nginx:1.27", ports: [{port: 80, expose: true}]}
      traits: [{type: scaler, properties: {replicas: 2}}]
status:
  status: running
  services: [{name: web, healthy: true}]
`

const want = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  annotations:
    app.oam.dev/publishVersion: "42"
    owner: payments
  labels:
    team: storefront
  name: shop
  namespace: prod
spec:
  components:
  - name: web
    properties:
      image: nginx:1.27
      ports:
      - expose: true
        port: 80
    traits:
    - properties:
        replicas: 2
      type: scaler
    type: webservice
`

func TestToFileDropsBookkeeping(t *testing.T) {
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(live), &u.Object); err != nil {
		t.Fatal(err)
	}
	f, err := ToFile(u)
	if err != nil {
		t.Fatal(err)
	}
	if f.Path != "prod/shop.yaml" {
		t.Errorf("path = %s, want prod/shop.yaml", f.Path)
	}
	if diff := cmp.Diff(want, string(f.Data)); diff != "" {
		t.Errorf("file (-want +got):\n%s", diff)
	}
	// Carina reads it.
	app, err := appfile.Parse(f.Path, f.Data)
	if err != nil {
		t.Fatalf("the written file does not parse: %v", err)
	}
	if app.Name != "shop" || len(app.Components) != 1 {
		t.Errorf("parsed %+v", app)
	}
}

func TestToFileRefusesOtherKinds(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "x", "namespace": "y"}}}
	if _, err := ToFile(u); err == nil {
		t.Error("a Deployment converted")
	}
}
