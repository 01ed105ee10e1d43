package agent

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/e2e/cluster"
)

// bigEnvAppfile deploys one ConfigMap to staging, then n to prod.
func bigEnvAppfile(ns string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: big\nservices:\n  cfg:\n    type: k8s-objects\n    objects:\n")
	fmt.Fprintf(&b, "      - {apiVersion: v1, kind: ConfigMap, metadata: {name: cm-000}, data: {v: \"1\"}}\n")
	fmt.Fprintf(&b, "environments:\n  staging:\n    clusters: [local]\n    namespace: %s-staging\n", ns)
	fmt.Fprintf(&b, "  prod:\n    clusters: [local]\n    namespace: %s-prod\n    overrides:\n      cfg:\n        objects:\n", ns)
	for i := range n {
		fmt.Fprintf(&b, "          - {apiVersion: v1, kind: ConfigMap, metadata: {name: cm-%03d}, data: {v: \"1\"}}\n", i)
	}
	return b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startBinary runs `carina agent --config` as a child process.
func startBinary(t *testing.T, bin, cfgPath string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "agent", "--config", cfgPath, "--log-format", "text")
	cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// TestKillDuringDeployConverges: the agent is killed with SIGKILL while
// it applies prod; a restarted agent finishes prod, rewrites no object
// the first one had written, never touches staging again, and the
// workflow ends with both deploy steps succeeded.
func TestKillDuringDeployConverges(t *testing.T) {
	c, cs := needCluster(t)
	ns := testNS("kill")
	createNamespaces(t, cs, ns+"-staging", ns+"-prod")
	bin := filepath.Join(t.TempDir(), "carina")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/carina").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const n = 400
	repo := newGitRepo(t)
	repo.commit("big", map[string]string{"big/Appfile": bigEnvAppfile(ns, n)})

	listen1 := freeAddr(t)
	cfg1, _ := agentConfigFile(t, repo.url(), "", userKubeconfig(t, c, "carina-killed"), listen1, "")
	first := startBinary(t, bin, cfg1)
	eventually(t, 60*time.Second, "prod apply under way", func() (bool, string) {
		list, err := cs.CoreV1().ConfigMaps(ns+"-prod").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		k := len(list.Items) - 1 // kube-root-ca.crt
		return k > 0, fmt.Sprint(k)
	})
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	list, _ := cs.CoreV1().ConfigMaps(ns+"-prod").List(t.Context(), metav1.ListOptions{})
	t.Logf("killed with %d of %d prod objects written", len(list.Items)-1, n)

	listen2 := freeAddr(t)
	cfg2, _ := agentConfigFile(t, repo.url(), "", userKubeconfig(t, c, "carina-restarted-bin"), listen2, "")
	startBinary(t, bin, cfg2)
	client := &api.Client{BaseURL: "http://" + listen2, Token: "api-token"}
	eventually(t, 90*time.Second, "prod converged", func() (bool, string) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		app, err := client.App(ctx, "big")
		if err != nil {
			return false, err.Error()
		}
		return stepPhase(app.Workflow, "deploy-prod") == api.StepSucceeded && stepPhase(app.Workflow, "deploy-staging") == api.StepSucceeded,
			fmt.Sprintf("%+v", app.Workflow)
	})
	list, _ = cs.CoreV1().ConfigMaps(ns+"-prod").List(t.Context(), metav1.ListOptions{})
	if got := len(list.Items) - 1; got != n {
		t.Errorf("prod holds %d objects, want %d", got, n)
	}
	events, err := c.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	if w := cluster.Select(events, cluster.Filter{User: "carina-restarted-bin", Writes: true, Namespace: ns + "-staging"}); len(w) != 0 {
		t.Errorf("the restarted agent wrote %d times to staging, want 0", len(w))
	}
	// firstWrites: every write the killed agent sent; done: those the
	// server answered with success. The others were in flight at the kill.
	firstWrites, done := map[string]bool{}, map[string]bool{}
	for _, ev := range cluster.Select(events, cluster.Filter{User: "carina-killed", Writes: true, Namespace: ns + "-prod", Resource: "configmaps"}) {
		if !isDryRun(ev.RequestURI) {
			firstWrites[ev.ObjectRef.Name] = true
			if ev.ResponseStatus != nil && ev.ResponseStatus.Code < 300 {
				done[ev.ObjectRef.Name] = true
			}
		}
	}
	var again, redone []string
	second := 0
	written := map[string]bool{}
	for name := range firstWrites {
		written[name] = true
	}
	for _, ev := range cluster.Select(events, cluster.Filter{User: "carina-restarted-bin", Writes: true, Namespace: ns + "-prod", Resource: "configmaps"}) {
		if isDryRun(ev.RequestURI) {
			continue
		}
		second++
		written[ev.ObjectRef.Name] = true
		if firstWrites[ev.ObjectRef.Name] {
			again = append(again, ev.ObjectRef.Name)
		}
		if done[ev.ObjectRef.Name] {
			redone = append(redone, ev.ObjectRef.Name)
		}
	}
	t.Logf("the killed agent sent %d prod writes (%d answered), the restarted one %d; %d objects were written by both",
		len(firstWrites), len(done), second, len(again))
	if len(redone) > 0 {
		t.Errorf("the restarted agent rewrote %d objects the killed one had written successfully: %v", len(redone), redone)
	}
	// Only the writes in flight at the kill (at most the apply engine's
	// concurrency) may be sent again.
	if max := apply.DefaultOptions().Concurrency; len(again) > max {
		t.Errorf("the restarted agent rewrote %d interrupted objects, more than the %d in flight", len(again), max)
	}
	for _, cm := range list.Items {
		if cm.Name != "kube-root-ca.crt" && !written[cm.Name] {
			t.Errorf("ConfigMap %s exists but the audit log shows no write of it", cm.Name)
		}
	}
}

func isDryRun(uri string) bool { return strings.Contains(uri, "dryRun=") }
