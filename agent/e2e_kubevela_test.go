package agent

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carina-gitops/carina/agent/api"
)

// kubeInfoDef is a component that writes down context.clusterVersion,
// with a health policy that reads parameter (as KubeVela's gateway
// does).
const kubeInfoDef = `"kube-info": {
	type: "component"
	attributes: {
		workload: definition: {apiVersion: "v1", kind: "ConfigMap"}
		status: healthPolicy: "isHealth: context.output.data.owner == parameter.owner"
	}
}
template: {
	output: {
		apiVersion: "v1"
		kind:       "ConfigMap"
		metadata: name: context.name
		data: {
			major:      context.clusterVersion.major
			minor:      "\(context.clusterVersion.minor)"
			gitVersion: context.clusterVersion.gitVersion
			owner:      parameter.owner
		}
	}
	parameter: owner: string
}
`

// rolloutNoteDef is a trait meant for Deployments only: on a ConfigMap,
// KubeVela applies it anyway, and Carina warns (or, strict, refuses).
const rolloutNoteDef = `"rollout-note": {
	type: "trait"
	attributes: appliesToWorkloads: ["deployments.apps"]
}
template: {
	patch: metadata: annotations: "example.com/note": parameter.note
	parameter: note: string
}
`

func kubeInfoApp(name, ns string) string {
	return fmt.Sprintf(`name: %[1]s
namespace: %[2]s
services:
  %[1]s:
    type: kube-info
    owner: team-a
    traits:
      rollout-note: {note: hi}
`, name, ns)
}

// TestAgentRendersForTheClusterVersion: the agent renders with the target
// cluster's version from its /version (context.clusterVersion), and
// records it in the inventory; a health policy that reads parameter
// decides health; a trait outside its appliesToWorkloads is a warning
// in the env's status (API and `carina status APP`) for a lenient source
// and an error, with nothing applied, for a strict one.
func TestAgentRendersForTheClusterVersion(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("kver")
	createNamespaces(t, cs, ns)
	sv, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	minor := strings.TrimRight(sv.Minor, "+")
	repo := newGitRepo(t)
	repo.commit("two sources, one strict", map[string]string{
		"defs/kube-info.cue":    kubeInfoDef,
		"defs/rollout-note.cue": rolloutNoteDef,
		"lenient/info/Appfile":  kubeInfoApp("lenient-info", ns),
		"strict/info/Appfile":   kubeInfoApp("strict-info", ns),
	})
	sources := fmt.Sprintf(`apps:
    - {name: lenient, url: %[1]q, interval: 1h, path: lenient, definitions: defs}
    - {name: strict, url: %[1]q, interval: 1h, path: strict, definitions: defs, strict: true}`, repo.url())
	_, cfg := agentConfigSources(t, sources, "", testCluster.Kubeconfig(), "127.0.0.1:0", "")
	r := startAgent(t, cfg)

	eventually(t, 60*time.Second, "lenient-info healthy", healthyEnv(r, "lenient-info", "default"))
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "lenient-info", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The local control plane's binaries carry no version ldflags: their
	// gitVersion is a placeholder, so the agent takes major and minor.
	want := map[string]string{"major": sv.Major, "minor": minor, "gitVersion": sv.GitVersion}
	if !semverish.MatchString(sv.GitVersion) {
		want["gitVersion"] = "v" + sv.Major + "." + minor + ".0"
	}
	for k, v := range want {
		if cm.Data[k] != v {
			t.Errorf("ConfigMap data.%s = %q, want %q (the cluster's /version: %+v)", k, cm.Data[k], v, sv)
		}
	}
	if cm.Annotations["example.com/note"] != "hi" {
		t.Errorf("the trait outside its appliesToWorkloads was not applied, as KubeVela applies it: %v", cm.Annotations)
	}
	target, err := r.a.targets.get("local", identity{})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := target.ReadInventory(t.Context(), "lenient-info", "default")
	if err != nil || inv == nil {
		t.Fatalf("inventory: %v, %v", inv, err)
	}
	if got := inv.Extra[extraKubeVersion]; got != want["gitVersion"] {
		t.Errorf("the inventory records kube version %q, want %q: the version was not read from the cluster", got, want["gitVersion"])
	}

	e, err := r.env("lenient-info", "default")
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Warnings) != 1 || !strings.Contains(e.Warnings[0], `trait "rollout-note" does not apply to component type "kube-info"`) {
		t.Errorf("lenient-info warnings = %q, want the one of rollout-note", e.Warnings)
	}
	a, err := r.client.App(t.Context(), "lenient-info")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := api.WriteApp(&out, a); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "WARNING") || !strings.Contains(out.String(), `trait "rollout-note" does not apply`) {
		t.Errorf("carina status lenient-info does not show the warning:\n%s", out.String())
	}

	eventually(t, 30*time.Second, "strict-info refused", func() (bool, string) {
		e, err := r.env("strict-info", "default")
		if err != nil {
			return false, err.Error()
		}
		msg := ""
		if e.LastError != nil {
			msg = e.LastError.Message
		}
		return e.Sync == api.SyncStalled && strings.Contains(msg, `trait "rollout-note" does not apply`), fmt.Sprintf("%s %q", e.Sync, msg)
	})
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "strict-info", metav1.GetOptions{}); err == nil {
		t.Error("strict-info was applied although its source is strict")
	}
}
