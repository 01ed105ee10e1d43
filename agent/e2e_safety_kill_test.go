package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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
	"github.com/carina-gitops/carina/e2e/faultproxy"
)

// TestKillDuringAHeldWriteConverges: the agent process reaches the API
// server through e2e/faultproxy, which holds the write of one prod
// object. While that write is held, the process is killed with SIGKILL,
// so the kill lands inside the apply, and the test proves it: the proxy
// saw the write, the process died before any answer (the proxy says the
// client abandoned the request, never forwarded), and the audit log has
// no write of that object by the killed agent. A new agent then
// converges: every object exists with its content, each was created
// exactly once (audit log), nothing the killed agent wrote is rewritten,
// and the held object is written by the new agent.
func TestKillDuringAHeldWriteConverges(t *testing.T) {
	c, cs := needCluster(t)
	ns := testNS("heldkill")
	app := ns
	createNamespaces(t, cs, ns+"-staging", ns+"-prod")
	bin := buildCarina(t)
	const n, heldName = 40, "cm-020"
	repo := newGitRepo(t)
	repo.commit("app", map[string]string{"app/Appfile": strings.Replace(bigEnvAppfile(ns, n), "name: big", "name: "+app, 1)})

	const killed, restarted = "carina-held-killed", "carina-held-restarted"
	up, err := c.UserConfig(killed, "system:masters")
	if err != nil {
		t.Fatal(err)
	}
	p, err := faultproxy.Start(up)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := p.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	held, release, abandoned := make(chan struct{}), make(chan struct{}), make(chan struct{})
	prodWrite := faultproxy.Name("configmaps", heldName)
	p.Add(faultproxy.Rule{Action: faultproxy.Hold, Held: held, Release: release, Abandoned: abandoned,
		Match: func(r *http.Request) bool {
			return prodWrite(r) && strings.Contains(r.URL.Path, "/namespaces/"+ns+"-prod/")
		}})

	cfg1, _ := agentConfigFile(t, repo.url(), "", kc, freeAddr(t), "")
	first := startBinary(t, bin, cfg1)
	select {
	case <-held:
	case <-time.After(120 * time.Second):
		t.Fatal("the write of the prod object was not held within 120 s")
	}
	killedAt := time.Now()
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = first.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the agent process ended with %v, want killed by SIGKILL", err)
	}
	select {
	case <-abandoned:
	case <-time.After(10 * time.Second):
		t.Fatal("the proxy does not report the held write abandoned by its client: the kill did not land while it was held")
	}
	t.Logf("killed while the write of %s was held; %s later the proxy saw the killed client abandon it, unanswered", heldName, time.Since(killedAt).Round(time.Millisecond))
	events, err := c.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range cluster.Select(events, cluster.Filter{User: killed, Writes: true, Namespace: ns + "-prod", Resource: "configmaps"}) {
		if ev.ObjectRef.Name == heldName && !isDryRun(ev.RequestURI) {
			t.Fatalf("the held write of %s reached the API server (at %s): the kill did not land during it", heldName, ev.RequestReceivedTimestamp)
		}
	}
	list, _ := cs.CoreV1().ConfigMaps(ns+"-prod").List(t.Context(), metav1.ListOptions{})
	t.Logf("killed with %d of %d prod objects written", len(list.Items)-1, n)

	listen2 := freeAddr(t)
	cfg2, _ := agentConfigFile(t, repo.url(), "", userKubeconfig(t, c, restarted), listen2, "")
	startBinary(t, bin, cfg2)
	client := &api.Client{BaseURL: "http://" + listen2, Token: "api-token"}
	eventually(t, 90*time.Second, "prod converged after the kill", func() (bool, string) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		st, err := client.App(ctx, app)
		if err != nil {
			return false, err.Error()
		}
		return stepPhase(st.Workflow, "deploy-prod") == api.StepSucceeded && stepPhase(st.Workflow, "deploy-staging") == api.StepSucceeded,
			fmt.Sprintf("%+v", st.Workflow)
	})

	events, err = c.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	list, err = cs.CoreV1().ConfigMaps(ns+"-prod").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(list.Items) - 1; got != n { // kube-root-ca.crt
		t.Errorf("prod holds %d objects, want %d", got, n)
	}
	for _, cm := range list.Items {
		if cm.Name != "kube-root-ca.crt" && cm.Data["v"] != "1" {
			t.Errorf("%s holds %v, want v=1", cm.Name, cm.Data)
		}
	}
	writes := objectWrites(events, ns+"-prod", "configmaps", killed, restarted)
	var names []string
	for _, cm := range list.Items {
		if cm.Name != "kube-root-ca.crt" {
			names = append(names, cm.Name)
		}
	}
	checkCreatedOnce(t, writes, names, killed, apply.DefaultOptions().Concurrency)
	if w := writes[heldName]; w == nil || len(w.creates) != 1 || w.creates[0] != restarted {
		t.Errorf("the held object %s: %+v, want created by the restarted agent alone", heldName, w)
	}
	// Nothing the killed agent wrote with success is written again.
	doneByFirst := map[string]bool{}
	var rewrites []string
	for _, ev := range cluster.Select(events, cluster.Filter{User: killed, Writes: true, Namespace: ns + "-prod", Resource: "configmaps"}) {
		if !isDryRun(ev.RequestURI) && ev.ResponseStatus != nil && ev.ResponseStatus.Code < 300 {
			doneByFirst[ev.ObjectRef.Name] = true
		}
	}
	for _, ev := range cluster.Select(events, cluster.Filter{User: restarted, Writes: true, Namespace: ns + "-prod", Resource: "configmaps"}) {
		if !isDryRun(ev.RequestURI) && doneByFirst[ev.ObjectRef.Name] {
			rewrites = append(rewrites, ev.ObjectRef.Name)
		}
	}
	if len(rewrites) > 0 {
		t.Errorf("the restarted agent rewrote objects the killed one had written: %v", rewrites)
	}
	t.Logf("the killed agent wrote %d prod objects with success; no object created twice", len(doneByFirst))
}
