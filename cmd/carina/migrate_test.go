package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/carina-gitops/carina/e2e/cluster"
)

// kubevelaShared is KubeVela's reference material next to the repository.
var kubevelaShared = filepath.Join("..", "..", "..", "shared", "kubevela")

// installKubeVela creates KubeVela's CRDs and its definition objects in
// vela-system, as KubeVela's chart would (the namespace substituted).
func installKubeVela(t *testing.T, ctx context.Context, dyn dynamic.Interface) int {
	t.Helper()
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	crds, _ := filepath.Glob(filepath.Join(kubevelaShared, "crds", "*.yaml"))
	for _, p := range crds {
		u := readObject(t, p, "")
		if _, err := dyn.Resource(crdGVR).Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "kubevela-chart", Force: true}); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	nsGVR := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "vela-system"}}}
	if _, err := dyn.Resource(nsGVR).Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defs, _ := filepath.Glob(filepath.Join(kubevelaShared, "definition-objects", "*.yaml"))
	for _, p := range defs {
		u := readObject(t, p, "vela-system")
		gvr := schema.GroupVersionResource{Group: "core.oam.dev", Version: "v1beta1", Resource: strings.ToLower(u.GetKind()) + "s"}
		// The CRDs take a moment to be served.
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(250 * time.Millisecond) {
			_, err := dyn.Resource(gvr).Namespace("vela-system").Create(ctx, u, metav1.CreateOptions{FieldManager: "kubevela-chart"})
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v", p, err)
			}
		}
	}
	return len(defs)
}

func readObject(t *testing.T, path, namespace string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.ReplaceAll(string(data), `{{ include "systemDefinitionNamespace" . }}`, namespace))
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &u.Object); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return u
}

// TestMigrateFromKubeVelaCluster: from a cluster that holds KubeVela's
// CRDs, definition objects and an Application, defs import writes
// definitions that render what KubeVela's CUE files render, and migrate
// kubevela writes the Application as a file Carina renders, without
// status or bookkeeping.
func TestMigrateFromKubeVelaCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	dyn, err := dynamic.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	n := installKubeVela(t, ctx, dyn)
	kc := "--kubeconfig=" + c.Kubeconfig()

	defsDir := t.TempDir()
	out, err := runCarina(t, "defs", "import", kc, "-o", defsDir)
	if err != nil {
		t.Fatalf("defs import: %v\n%s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(defsDir, "*", "*.cue"))
	if len(files) != n {
		t.Errorf("defs import wrote %d files, want %d (one per definition object)", len(files), n)
	}

	app := `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: shop
  namespace: default
spec:
  components:
    - name: web
      type: webservice
      properties:
        image: nginx:1.27
        ports: [{port: 80}]
      traits:
        - type: scaler
          properties: {replicas: 2}
        - type: gateway
          properties: {domain: shop.example.com, http: {"/": 80}}
`
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(app), &u.Object); err != nil {
		t.Fatal(err)
	}
	appGVR := schema.GroupVersionResource{Group: "core.oam.dev", Version: "v1beta1", Resource: "applications"}
	created, err := dyn.Resource(appGVR).Namespace("default").Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Object["status"] = map[string]any{"status": "running"}
	if _, err := dyn.Resource(appGVR).Namespace("default").UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	appsDir := t.TempDir()
	if out, err := runCarina(t, "migrate", "kubevela", kc, "-o", appsDir); err != nil || !strings.Contains(out, "1 applications written") {
		t.Fatalf("migrate kubevela: %v\n%s", err, out)
	}
	written, err := os.ReadFile(filepath.Join(appsDir, "default", "shop.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"status", "managedFields", "uid:", "resourceVersion"} {
		if strings.Contains(string(written), bad) {
			t.Errorf("migrated file holds %q:\n%s", bad, written)
		}
	}

	// The imported definitions render what KubeVela's CUE files render.
	file := filepath.Join(appsDir, "default", "shop.yaml")
	fromCluster, err := runCarina(t, "render", "-f", file, "--definitions", defsDir)
	if err != nil {
		t.Fatalf("render with the imported definitions: %v", err)
	}
	fromFiles, err := runCarina(t, "render", "-f", file, "--definitions", filepath.Join(kubevelaShared, "definitions"))
	if err != nil {
		t.Fatalf("render with KubeVela's CUE files: %v", err)
	}
	if fromCluster != fromFiles {
		t.Errorf("imported definitions render\n%s\nKubeVela's CUE files render\n%s", fromCluster, fromFiles)
	}
	if !strings.Contains(fromCluster, "kind: Ingress") || !strings.Contains(fromCluster, "replicas: 2") {
		t.Errorf("render lacks the gateway's Ingress or the scaler:\n%s", fromCluster)
	}

	adoptAsKubeVela(t, ctx, dyn, fromCluster, appsDir, defsDir, kc)
}

// adoptAsKubeVela plays docs/migrate-kubevela.md's step 3: the objects
// the app renders exist as KubeVela applied them (its labels, field
// manager kubevela, an owner ResourceTracker); carina apply adopts them
// in place.
func adoptAsKubeVela(t *testing.T, ctx context.Context, dyn dynamic.Interface, rendered, appsDir, defsDir, kc string) {
	t.Helper()
	rtGVR := schema.GroupVersionResource{Group: "core.oam.dev", Version: "v1beta1", Resource: "resourcetrackers"}
	rt := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "core.oam.dev/v1beta1", "kind": "ResourceTracker",
		"metadata": map[string]any{"name": "shop-v1-default"}, "spec": map[string]any{"applicationGeneration": int64(1)}}}
	rt, err := dyn.Resource(rtGVR).Create(ctx, rt, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	uids := map[string]string{}
	for _, obj := range docs(t, rendered) {
		u := &unstructured.Unstructured{Object: obj}
		u.SetLabels(map[string]string{"app.oam.dev/name": "shop", "app.oam.dev/component": "web", "app.oam.dev/namespace": "default"})
		u.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "core.oam.dev/v1beta1", Kind: "ResourceTracker", Name: rt.GetName(), UID: rt.GetUID()}})
		gvr := schema.GroupVersionResource{Group: u.GroupVersionKind().Group, Version: u.GroupVersionKind().Version, Resource: strings.ToLower(u.GetKind()) + "s"}
		if u.GetKind() == "Ingress" {
			gvr.Resource = "ingresses"
		}
		live, err := dyn.Resource(gvr).Namespace(u.GetNamespace()).Create(ctx, u, metav1.CreateOptions{FieldManager: "kubevela"})
		if err != nil {
			t.Fatalf("%s/%s as KubeVela: %v", u.GetKind(), u.GetName(), err)
		}
		uids[u.GetKind()+"/"+u.GetName()] = string(live.GetUID())
	}
	out, err := runCarina(t, "apply", appsDir, "--definitions", defsDir, kc)
	if err != nil {
		t.Fatalf("carina apply: %v\n%s", err, out)
	}
	for ref := range uids {
		kind, name, _ := strings.Cut(ref, "/")
		if !strings.Contains(out, kind+"/default/"+name+" configured: adopted from KubeVela") {
			t.Errorf("apply output does not show %s adopted:\n%s", ref, out)
		}
	}
	dep, err := dyn.Resource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}).Namespace("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(dep.GetUID()) != uids["Deployment/web"] || len(dep.GetOwnerReferences()) != 0 || dep.GetLabels()["app.oam.dev/name"] != "" {
		t.Errorf("Deployment after adoption: uid %s (was %s), owners %v, labels %v", dep.GetUID(), uids["Deployment/web"], dep.GetOwnerReferences(), dep.GetLabels())
	}
}
