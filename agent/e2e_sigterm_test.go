package agent

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestSIGTERMExitsAndReleasesLease: the real binary, leading and deployed,
// gets SIGTERM; it exits cleanly within 10 s and leaves the Lease free, so
// a successor need not wait out the lease duration.
func TestSIGTERMExitsAndReleasesLease(t *testing.T) {
	c, cs := needCluster(t)
	ns := testNS("sigterm")
	app := ns + "-shop"
	leaseNS := ns + "-lease"
	createNamespaces(t, cs, ns, leaseNS)
	bin := filepath.Join(t.TempDir(), "carina")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/carina").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	repo := newGitRepo(t)
	repo.commit("v1", map[string]string{app + "/Appfile": simpleAppfile(app, ns, "v1")})
	cfgPath, _ := agentConfigFile(t, repo.url(), leaseNS, userKubeconfig(t, c, "carina-sigterm"), freeAddr(t), "")
	cmd := startBinary(t, bin, cfgPath)
	holder := func() string {
		lease, err := cs.CoordinationV1().Leases(leaseNS).Get(t.Context(), "carina-agent", metav1.GetOptions{})
		if err != nil || lease.Spec.HolderIdentity == nil {
			return ""
		}
		return *lease.Spec.HolderIdentity
	}
	eventually(t, 60*time.Second, "the binary leads and deploys", func() (bool, string) {
		got := configMapData(t, cs, ns, app)
		return holder() != "" && got == "v1", fmt.Sprintf("holder %q data %q", holder(), got)
	})
	leader := holder()

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			t.Errorf("the agent exited with %v after SIGTERM, want 0", err)
		}
		t.Logf("exited %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not exit within 10 s of SIGTERM")
	}
	if h := holder(); h == leader {
		t.Errorf("the Lease is still held by %q after a graceful shutdown", h)
	}
}
