package install

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/e2e/cluster"
)

// agentSA is the ServiceAccount deploy/ creates for the agent.
const agentSA = "system:serviceaccount:carina-system:carina-agent"

// installRBAC applies the RBAC objects (and Namespaces) of a kustomize
// build for real: what the agent gets in a cluster.
func installRBAC(t *testing.T, dir string) {
	t.Helper()
	var docs []string
	for _, doc := range strings.Split(string(kustomize(t, dir)), "\n---\n") {
		for _, kind := range []string{"Namespace", "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"} {
			if strings.Contains(doc, "\nkind: "+kind+"\n") || strings.HasPrefix(doc, "kind: "+kind+"\n") {
				docs = append(docs, doc)
			}
		}
	}
	mustKubectl(t, []byte(strings.Join(docs, "\n---\n")), "apply", "--server-side", "--field-manager=carina-install-test", "-f", "-")
}

// impersonator is a user that may only impersonate the agent's
// ServiceAccount: every request it makes is the agent's.
func impersonator(t *testing.T, c *cluster.Cluster, user string) string {
	t.Helper()
	mustKubectl(t, []byte(fmt.Sprintf(`apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: %[1]s, namespace: carina-system}
rules: [{apiGroups: [""], resources: [serviceaccounts], verbs: [impersonate], resourceNames: [carina-agent]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: %[1]s, namespace: carina-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: %[1]s}
subjects: [{kind: User, name: %[1]s, apiGroup: rbac.authorization.k8s.io}]
`, user)), "apply", "--server-side", "-f", "-")
	rc, err := c.UserConfig(user)
	if err != nil {
		t.Fatal(err)
	}
	return writeKubeconfig(t, rc, agentSA)
}

// gitRepo is a Git repository on disk that the agent reads through
// file:// (allowFileURLs).
type gitRepo struct {
	t   *testing.T
	dir string
}

func newGitRepo(t *testing.T) *gitRepo {
	r := &gitRepo{t: t, dir: filepath.Join(t.TempDir(), "repo")}
	r.git("init", "-q", "-b", "main", r.dir)
	return r
}

func (r *gitRepo) git(args ...string) {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	if args[0] != "init" {
		cmd.Dir = r.dir
	}
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func (r *gitRepo) commit(msg, path, content string) {
	r.t.Helper()
	full := filepath.Join(r.dir, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.git("add", "-A")
	r.git("commit", "-q", "-m", msg)
}

// shopAppfile is the scenario's app: a ConfigMap and a Deployment, with
// a Service unless pruned, and extra objects.
func shopAppfile(ns, greeting string, service bool, extra string) string {
	s := fmt.Sprintf(`name: lp-shop
namespace: %s
services:
  web:
    type: k8s-objects
    objects:
      - apiVersion: v1
        kind: ConfigMap
        metadata: {name: settings}
        data: {greeting: %s}
      - apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 2
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec: {containers: [{name: web, image: "registry.example.com/web:1.0"}]}
`, ns, greeting)
	if service {
		s += `      - apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec: {selector: {app: web}, ports: [{port: 80}]}
`
	}
	return s + extra
}

// startAgent builds carina and runs `carina agent` with a config that
// reaches the cluster through kubeconfig, until the test ends.
func startAgent(t *testing.T, repo, kubeconfig string) *api.Client {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "carina")
	if out, err := exec.Command("go", "build", "-o", bin, repoPath("cmd/carina")).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	token := filepath.Join(dir, "api-token")
	if err := os.WriteFile(token, []byte("api-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`allowFileURLs: true
cacheDir: %s
sources: {apps: [{name: apps, url: "file://%s", interval: 1s}]}
clusters: [{name: local, kubeconfig: {file: %s}}]
server: {listen: "%s", api: {tokenFile: %s}}
reconcile: {minBackoff: 200ms, maxBackoff: 2s}
leaderElection: {namespace: carina-system, name: carina-lp-test, leaseDuration: 4s, renewDeadline: 3s, retryPeriod: 500ms}
`, filepath.Join(dir, "cache"), repo, kubeconfig, addr, token)
	cfgPath := filepath.Join(dir, "carina.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "agent", "--config", cfgPath, "--log-format", "text")
	log, err := os.Create(filepath.Join(dir, "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("agent log:\n%s", b)
		}
	})
	return &api.Client{BaseURL: "http://" + addr, Token: "api-token"}
}

// envStatus reads the status of lp-shop's default environment.
func envStatus(t *testing.T, c *api.Client) (api.EnvStatus, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return c.Env(ctx, "lp-shop", "default")
}

// TestLeastPrivilegeAgent: `carina agent`, out of cluster and acting as
// the ServiceAccount deploy/ creates with the cluster-wide profile,
// deploys, corrects drift and prunes; a kind outside the grant is refused
// with the missing permission named and nothing of that commit applied;
// the audit log shows every request under the ServiceAccount.
func TestLeastPrivilegeAgent(t *testing.T) {
	c, cs := needCluster(t)
	installRBAC(t, "deploy/kustomize/base")
	const user = "carina-lp-impersonator"
	kubeconfig := impersonator(t, c, user)
	ns := fmt.Sprintf("lp-%d", time.Now().UnixNano()%100000)
	repo := newGitRepo(t)
	repo.commit("v1", "lp-shop/Appfile", shopAppfile(ns, "v1", true, ""))
	agent := startAgent(t, repo.dir, kubeconfig)
	ctx := t.Context()

	greeting := func() string {
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		return cm.Data["greeting"]
	}
	eventually(t, 90*time.Second, "deployed", func() (bool, string) {
		_, err := cs.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
		return greeting() == "v1" && err == nil, fmt.Sprintf("greeting %q, service %v", greeting(), err)
	})

	// Drift: a kubectl scale by a person is undone.
	mustKubectl(t, nil, "-n", ns, "scale", "deployment/web", "--replicas=5")
	eventually(t, 30*time.Second, "drift corrected", func() (bool, string) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return *d.Spec.Replicas == 2, fmt.Sprintf("replicas %d", *d.Spec.Replicas)
	})

	// Prune: the Service leaves Git.
	repo.commit("v2 without the Service", "lp-shop/Appfile", shopAppfile(ns, "v2", false, ""))
	eventually(t, 60*time.Second, "Service pruned", func() (bool, string) {
		_, err := cs.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
		return greeting() == "v2" && err != nil, fmt.Sprintf("greeting %q, service %v", greeting(), err)
	})

	// A kind outside the grant: a Role. Refused, named, nothing applied.
	role := `      - apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata: {name: web-reader}
        rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
`
	repo.commit("v3 with a Role", "lp-shop/Appfile", shopAppfile(ns, "v3", false, role))
	var last string
	eventually(t, 60*time.Second, "the Role refused", func() (bool, string) {
		e, err := envStatus(t, agent)
		if err != nil || e.LastError == nil {
			return false, fmt.Sprintf("%+v %v", e.LastError, err)
		}
		last = e.LastError.Message
		return strings.Contains(last, "roles"), last
	})
	for _, want := range []string{agentSA, `"roles"`, `"rbac.authorization.k8s.io"`, ns} {
		if !strings.Contains(last, want) {
			t.Errorf("error %q does not name %s", last, want)
		}
	}
	t.Logf("refused: %s", last)
	if g := greeting(); g != "v2" {
		t.Errorf("greeting %q after the refused commit, want v2 (nothing of it applied)", g)
	}
	checkAudit(t, c, user, ns)
}

// checkAudit: every request of the impersonating user ran as the agent's
// ServiceAccount, and those requests deployed, corrected and pruned.
func checkAudit(t *testing.T, c *cluster.Cluster, user, ns string) {
	t.Helper()
	var events []auditv1.Event
	// The audit log is written when a request completes; give the last
	// ones a moment.
	_ = wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		all, err := c.AuditEvents()
		events = cluster.Select(all, cluster.Filter{User: user})
		return err == nil && len(events) > 0, nil
	})
	var verbs []string
	for _, ev := range events {
		if ev.ImpersonatedUser == nil || ev.ImpersonatedUser.Username != agentSA {
			t.Errorf("request %s %s by %s not as %s: %+v", ev.Verb, ev.RequestURI, user, agentSA, ev.ImpersonatedUser)
		}
		if ev.ObjectRef != nil && ev.ObjectRef.Namespace == ns && cluster.WriteVerbs[ev.Verb] && ev.ResponseStatus != nil && ev.ResponseStatus.Code < 300 {
			verbs = append(verbs, ev.Verb+" "+ev.ObjectRef.Resource)
		}
	}
	for _, want := range []string{"patch configmaps", "patch deployments", "delete services"} {
		if !slices.Contains(verbs, want) {
			t.Errorf("no %q by %s in %s; writes: %v", want, agentSA, ns, verbs)
		}
	}
	t.Logf("%d requests, all as %s; writes in %s: %d", len(events), agentSA, ns, len(verbs))
}
