package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// kubevelaDefs is KubeVela's definition folder in the shared reference
// material, read unchanged (recursively, vela/* importers left out).
var kubevelaDefs = filepath.Join("..", "..", "..", "shared", "kubevela", "definitions")

// TestRenderKubeVelaDefinitions: --kube-version picks what
// context.clusterVersion users render (KubeVela's gateway: Ingress v1beta1
// below 1.19), and --strict turns the appliesToWorkloads warning into an
// error.
func TestRenderKubeVelaDefinitions(t *testing.T) {
	app := filepath.Join("..", "..", "e2e", "kubevela", "testdata", "apps", "18-gateway.yaml")
	for _, tt := range []struct{ version, want string }{
		{"1.18", "networking.k8s.io/v1beta1"},
		{"1.30", "networking.k8s.io/v1"},
	} {
		out, err := runCarina(t, "render", "-f", app, "--definitions", kubevelaDefs, "--kube-version", tt.version)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, d := range docs(t, out) {
			if d["kind"] == "Ingress" {
				found = d["apiVersion"] == tt.want
			}
		}
		if !found {
			t.Errorf("--kube-version %s: no Ingress of %s in\n%s", tt.version, tt.want, out)
		}
	}
	if _, err := runCarina(t, "render", "-f", app, "--definitions", kubevelaDefs, "--kube-version", "one"); err == nil || !strings.Contains(err.Error(), `kubernetes version "one" is not MAJOR.MINOR`) {
		t.Errorf("a bad --kube-version: error = %v", err)
	}
	daemon := filepath.Join("..", "..", "e2e", "kubevela", "testdata", "apps", "04-daemon-expose-warning.yaml")
	if _, err := runCarina(t, "render", "-f", daemon, "--definitions", kubevelaDefs); err != nil {
		t.Errorf("expose on a daemon is a warning, not an error: %v", err)
	}
	_, err := runCarina(t, "render", "-f", daemon, "--definitions", kubevelaDefs, "--strict")
	if err == nil || !strings.Contains(err.Error(), `trait "expose" does not apply to component type "daemon"`) {
		t.Errorf("--strict: error = %v, want the appliesToWorkloads problem", err)
	}
}

// TestDefsVetListsKubeVelaDefinitionsThatCannotLoad: defs vet names each
// definition that cannot be loaded, with its reason, and exits 1.
func TestDefsVetListsKubeVelaDefinitionsThatCannotLoad(t *testing.T) {
	out, err := runCarina(t, "defs", "vet", kubevelaDefs)
	if exitCode(err) != 1 {
		t.Fatalf("exit code %d (%v), want 1", exitCode(err), err)
	}
	for _, want := range []string{
		"component helmchart", "cannot be loaded", `import "vela/helm" is not allowed`,
		"workflow-step deploy", "definitions have problems:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("vet output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "component webservice") {
		t.Errorf("webservice is listed:\n%s", out)
	}
}
