package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func startCluster(t *testing.T, name string) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a control plane (not in -short mode)")
	}
	opts := DefaultOptions()
	opts.Name = name
	opts.Build.Log = testWriter{t}
	c, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(c.Logs(30))
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stop %s: %v", name, err)
		}
	})
	t.Logf("cluster %s ready in %s at %s; phases %v", name, c.StartupDuration().Round(time.Millisecond), c.Server(), c.Phases())
	return c
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestTwoClustersAreIndependent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two control planes (not in -short mode)")
	}
	var a, b *Cluster
	var wg sync.WaitGroup
	wg.Go(func() { a = startCluster(t, "a") })
	wg.Go(func() { b = startCluster(t, "b") })
	wg.Wait()
	if t.Failed() || a == nil || b == nil {
		t.FailNow()
	}
	if a.Server() == b.Server() || a.Dir() == b.Dir() {
		t.Fatalf("clusters share an address or directory: %s %s", a.Server(), b.Server())
	}
	ca, err := a.Client()
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.Client()
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "only-in-a", Namespace: "default"}, Data: map[string]string{"k": "v"}}
	if _, err := ca.CoreV1().ConfigMaps("default").Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cb.CoreV1().ConfigMaps("default").Get(t.Context(), "only-in-a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("ConfigMap created in cluster a is visible in cluster b (err=%v)", err)
	}
	// Each has its own CA: a's credentials are refused by b.
	cross := a.RESTConfig()
	cross.Host = b.Server()
	cross.TLSClientConfig.Insecure, cross.TLSClientConfig.CAData = true, nil
	if _, err := clientFor(cross).CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{}); err == nil {
		t.Fatal("cluster b accepted cluster a's client certificate")
	}
	// And each has its own Ready fake node.
	for _, c := range []*Cluster{a, b} {
		cs, _ := c.Client()
		nodes, err := cs.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes.Items) != 1 || !nodeSchedulable(&nodes.Items[0]) {
			t.Errorf("cluster %s: want one schedulable node, got %d", c.Name(), len(nodes.Items))
		}
	}
}

func TestAuditLogRecordsWritesByUser(t *testing.T) {
	c := startCluster(t, "audit")
	cfg, err := c.UserConfig("alice")
	if err != nil {
		t.Fatal(err)
	}
	cs := clientFor(cfg)
	// alice has no RBAC rights: her write is denied, and still audited.
	_, err = cs.CoreV1().ConfigMaps("default").Create(t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("want Forbidden for a user without RBAC rights, got %v", err)
	}
	admin, _ := c.Client()
	for i := range 3 {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)}}
		if _, err := admin.CoreV1().ConfigMaps("default").Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	events, err := c.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	adminWrites := Select(events, Filter{User: "carina-admin", Writes: true, Namespace: "default", Resource: "configmaps"})
	if len(adminWrites) != 3 {
		t.Errorf("admin ConfigMap writes in the audit log = %d, want 3", len(adminWrites))
	}
	alice := Select(events, Filter{User: "alice", Writes: true})
	if len(alice) != 1 || alice[0].ResponseStatus == nil || alice[0].ResponseStatus.Code != 403 {
		t.Errorf("alice's denied write: got %d events %+v", len(alice), alice)
	}
}

// helperEnv makes the test binary start a cluster, print its PIDs and
// directory, and wait to be killed.
const helperEnv = "CARINA_CLUSTER_HELPER"

type helperReport struct {
	PIDs []int  `json:"pids"`
	Dir  string `json:"dir"`
}

func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("only runs as the child of TestNoOrphansAfterSIGKILL")
	}
	c, err := Start(context.Background(), DefaultOptions())
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	data, _ := json.Marshal(helperReport{PIDs: c.PIDs(), Dir: c.Dir()})
	fmt.Println(string(data))
	select {}
}

func TestNoOrphansAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane (not in -short mode)")
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "{") {
		cmd.Process.Kill()
		t.Fatalf("helper did not report a cluster: %q %v", line, err)
	}
	var rep helperReport
	if err := json.Unmarshal([]byte(line), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.PIDs) != 5 {
		t.Fatalf("helper reported %d processes, want 5 (etcd, apiserver, controller-manager, scheduler, kwok)", len(rep.PIDs))
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(15 * time.Second)
	for {
		alive := alivePIDs(rep.PIDs)
		_, statErr := os.Stat(rep.Dir)
		if len(alive) == 0 && os.IsNotExist(statErr) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGKILL of the owner: processes still alive %v, directory %s exists=%v", alive, rep.Dir, statErr == nil)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// alivePIDs ignores zombies, which only wait for their reaper.
func alivePIDs(pids []int) []int {
	var alive []int
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) > 0 && f[0] == "Z" {
			continue
		}
		alive = append(alive, pid)
	}
	return alive
}

// Concurrent UserConfig calls for one user once overwrote each other's key
// files, so some configs paired a certificate with another key.
func TestUserConfigConcurrentCallsAuthenticate(t *testing.T) {
	c := startCluster(t, "users")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			cfg, err := c.UserConfig("bob")
			if err != nil {
				errs[i] = err
				return
			}
			// bob has no rights: Forbidden proves the server knew him;
			// Unauthorized would mean a broken key pair.
			_, err = clientFor(cfg).CoreV1().Namespaces().Get(t.Context(), "default", metav1.GetOptions{})
			if !apierrors.IsForbidden(err) {
				errs[i] = fmt.Errorf("call %d: want Forbidden for bob, got %v", i, err)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func clientFor(cfg *rest.Config) kubernetes.Interface {
	return kubernetes.NewForConfigOrDie(cfg)
}
