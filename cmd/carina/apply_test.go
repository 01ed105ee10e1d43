package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/e2e/cluster"
)

const cliApp = `name: cli
services:
  web:
    type: webservice
    image: registry.example/web:IMAGE
    ports:
      - port: 8080
        expose: true
environments:
  dev:
    namespace: cli-dev
`

// code returns the exit code carina's main would use for err.
func code(err error) int {
	if err == nil {
		return 0
	}
	return exitCode(err)
}

// TestApplyAndDiffAgainstCluster runs carina diff and carina apply on a
// small application against a real control plane (started here: the
// package's only cluster).
func TestApplyAndDiffAgainstCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	dir := t.TempDir()
	write := func(image string) {
		if err := os.WriteFile(filepath.Join(dir, "Appfile"), []byte(strings.ReplaceAll(cliApp, "IMAGE", image)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	kc := "--kubeconfig=" + c.Kubeconfig()
	write("1")

	out, err := runCarina(t, "diff", dir, "--env", "dev", kc)
	if code(err) != 1 || !strings.Contains(out, "+++ desired/Deployment/cli-dev/web") {
		t.Fatalf("first diff: exit %d (%v), output:\n%s", code(err), err, out)
	}
	out, err = runCarina(t, "apply", dir, "--env", "dev", kc, "--wait", "--timeout=90s")
	if err != nil {
		t.Fatalf("apply --wait: %v\n%s", err, out)
	}
	for _, want := range []string{"Deployment/cli-dev/web created", "Service/cli-dev/web created", "app cli env dev: 2 created", "app cli env dev: Current"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	// Without an agent, status reads the cluster's inventories.
	out, err = runCarina(t, "status", kc)
	if err != nil || !regexp.MustCompile(`cli\s+dev\s+https://127.0.0.1:\d+\s+\S*\s+Synced\s+Healthy`).MatchString(out) {
		t.Errorf("status from the cluster: %v\n%s", err, out)
	}
	out, err = runCarina(t, "status", "cli", kc, "-o", "json")
	var st api.AppStatus
	if err != nil || json.Unmarshal([]byte(out), &st) != nil || len(st.Envs) != 1 || len(st.Envs[0].Components) != 1 ||
		len(st.Envs[0].Components[0].Objects) != 2 || st.Envs[0].Sync != api.SyncSynced {
		t.Errorf("status cli from the cluster: %v\n%s", err, out)
	}
	if _, err = runCarina(t, "status", "nope", kc); err == nil || !strings.Contains(err.Error(), `application "nope" has no inventory`) {
		t.Errorf("status of an unknown app: %v", err)
	}
	if out, err = runCarina(t, "diff", dir, kc); err != nil || out != "" {
		t.Errorf("diff after apply (the only env): exit %d (%v), output:\n%s", code(err), err, out)
	}

	write("2")
	out, err = runCarina(t, "diff", dir, "--env", "dev", kc, "-o", "json")
	var objs []map[string]any
	if code(err) != 1 || json.Unmarshal([]byte(out), &objs) != nil || len(objs) != 1 || objs[0]["action"] != "update" {
		t.Fatalf("diff of a new image: exit %d (%v), output:\n%s", code(err), err, out)
	}
	out, err = runCarina(t, "apply", dir, "--env", "dev", kc, "-o", "json", "--prune")
	var res []struct{ ChangeSet *apply.ChangeSet }
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || len(res) != 1 || res[0].ChangeSet.Count(apply.Configured) != 1 {
		t.Fatalf("apply of a new image: %v, output:\n%s", err, out)
	}

	checkRebuildInventory(t, c, dir, kc)

	_, err = runCarina(t, "diff", dir, "--env", "nope", kc)
	if code(err) != 2 || !strings.Contains(err.Error(), `environment "nope"`) {
		t.Errorf("diff of an unknown env: exit %d (%v)", code(err), err)
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		t.Errorf("diff error %T is not an exitError", err)
	}
}

// checkRebuildInventory: a corrupt inventory stops carina apply before
// anything is written or pruned, with the way out in the error; apply
// --rebuild-inventory adopts the labelled objects and goes on.
func checkRebuildInventory(t *testing.T, c *cluster.Cluster, dir, kc string) {
	t.Helper()
	cs, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	invs := cs.CoreV1().ConfigMaps(apply.DefaultOptions().InventoryNamespace)
	cm, err := invs.Get(t.Context(), inventory.Name("cli", "dev"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data[inventory.KeyObjects] = "not an inventory line\n"
	if _, err := invs.Update(t.Context(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := runCarina(t, "apply", dir, "--env", "dev", kc, "--prune"); !errors.Is(err, inventory.ErrCorrupt) || !strings.Contains(err.Error(), "--rebuild-inventory") {
		t.Fatalf("apply over a corrupt inventory: %v, want ErrCorrupt naming --rebuild-inventory", err)
	}
	if out, err := runCarina(t, "apply", dir, "--env", "dev", kc, "--prune", "--rebuild-inventory"); err != nil {
		t.Fatalf("apply --rebuild-inventory: %v\n%s", err, out)
	}
	m, err := apply.New(c.RESTConfig(), apply.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	inv, err := m.ReadInventory(t.Context(), "cli", "dev")
	if err != nil || inv == nil || len(inv.Entries) != 2 {
		t.Fatalf("inventory after the rebuild: %+v, %v; want the Deployment and the Service", inv, err)
	}
}
