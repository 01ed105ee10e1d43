package install

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/e2e/cluster"
)

const tenantSA = "system:serviceaccount:tenant-a:carina-tenant"

// agentConfig is a client configuration of the agent's own
// ServiceAccount, from a short-lived token (TokenRequest).
func agentConfig(t *testing.T) *rest.Config {
	t.Helper()
	_, cs := needCluster(t)
	exp := int64(600)
	tr, err := cs.CoreV1().ServiceAccounts("carina-system").CreateToken(t.Context(), "carina-agent",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	base := testCluster.RESTConfig()
	return &rest.Config{Host: base.Host, TLSClientConfig: rest.TLSClientConfig{CAData: base.CAData}, BearerToken: tr.Status.Token}
}

func obj(apiVersion, kind, ns, name string, extra map[string]any) apply.Object {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": name}}}
	if ns != "" {
		u.SetNamespace(ns)
	}
	u.SetLabels(map[string]string{apply.LabelApp: "esc", apply.LabelEnv: "prod", apply.LabelComponent: "web"})
	for k, v := range extra {
		u.Object[k] = v
	}
	return apply.Object{Obj: u, Component: "web"}
}

// TestTenantEscalationRefused: the agent, with the namespaced-tenants
// profile, applies an app as the tenant's ServiceAccount
// (apply.Manager.ImpersonateServiceAccount). A ClusterRoleBinding and a
// ConfigMap in another tenant's namespace are each refused with 403
// naming the missing permission, and nothing of the app is created: not
// even its allowed ConfigMap (the audit log shows no write but dry runs).
func TestTenantEscalationRefused(t *testing.T) {
	c, cs := needCluster(t)
	installRBAC(t, "deploy/kustomize/overlays/namespaced-tenants")
	mustKubectl(t, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: tenant-b}\n"), "apply", "--server-side", "-f", "-")
	opts := apply.DefaultOptions()
	// The tenant's inventory lives in its own namespace (deploy/rbac/
	// namespaced-tenants): no tenant can touch another's.
	opts.InventoryNamespace = "tenant-a"
	agent, err := apply.New(agentConfig(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	tenant, err := agent.ImpersonateServiceAccount("tenant-a", "carina-tenant")
	if err != nil {
		t.Fatal(err)
	}
	allowed := obj("v1", "ConfigMap", "tenant-a", "esc-settings", map[string]any{"data": map[string]any{"k": "v"}})
	crb := obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", "esc-admin", map[string]any{
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
		"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": "carina-tenant", "namespace": "tenant-a"}},
	})
	foreign := obj("v1", "ConfigMap", "tenant-b", "esc-foreign", map[string]any{"data": map[string]any{"k": "v"}})
	start := time.Now()
	for _, tc := range []struct {
		name string
		bad  apply.Object
		want []string
	}{
		{"ClusterRoleBinding", crb, []string{"forbidden", tenantSA, `"clusterrolebindings"`, `"rbac.authorization.k8s.io"`}},
		// Which request is refused first (the read of the live object or
		// the check of the namespace) is the engine's business; both name
		// the tenant and the namespace it may not touch.
		{"foreign namespace", foreign, []string{"forbidden", tenantSA, `"tenant-b"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := &apply.Set{App: "esc", Env: "prod", Revision: "r1", Objects: []apply.Object{allowed, tc.bad}}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			_, err := tenant.Apply(ctx, set, apply.DefaultApplyOptions())
			if err == nil {
				t.Fatal("the apply succeeded, want 403")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %s:\n%v", w, err)
				}
			}
			t.Logf("refused: %v", err)
		})
	}
	for _, get := range []func() error{
		func() error {
			_, err := cs.CoreV1().ConfigMaps("tenant-a").Get(t.Context(), "esc-settings", metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := cs.CoreV1().ConfigMaps("tenant-b").Get(t.Context(), "esc-foreign", metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := cs.RbacV1().ClusterRoleBindings().Get(t.Context(), "esc-admin", metav1.GetOptions{})
			return err
		},
	} {
		if err := get(); err == nil {
			t.Error("an object of the refused app exists")
		}
	}
	checkTenantAudit(t, c, start)
}

// checkTenantAudit: since start, the tenant identity wrote nothing (dry
// runs aside), and its refused requests were 403s.
func checkTenantAudit(t *testing.T, c *cluster.Cluster, start time.Time) {
	t.Helper()
	events, err := c.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	var forbidden int
	for _, ev := range events {
		if ev.ImpersonatedUser == nil || ev.ImpersonatedUser.Username != tenantSA || ev.StageTimestamp.Time.Before(start) {
			continue
		}
		code := int32(0)
		if ev.ResponseStatus != nil {
			code = ev.ResponseStatus.Code
		}
		if code == 403 {
			forbidden++
			continue
		}
		if cluster.WriteVerbs[ev.Verb] && code < 300 && !strings.Contains(ev.RequestURI, "dryRun=All") {
			t.Errorf("the tenant wrote: %s %s (%d)", ev.Verb, ev.RequestURI, code)
		}
	}
	if forbidden < 2 {
		t.Errorf("%d requests refused with 403 as %s, want at least 2", forbidden, tenantSA)
	}
	t.Logf("%d requests refused with 403 as %s; no write", forbidden, tenantSA)
}

// tenantAppfile is shopAppfile's app in environment prod of tenant-a,
// applied as the tenant's service account.
func tenantAppfile(greeting string, service bool) string {
	s := strings.Replace(shopAppfile("tenant-a", greeting, service, ""), "name: lp-shop\nnamespace: tenant-a\n", "name: lp-tenant\n", 1)
	return s + `environments:
  prod:
    clusters: [local]
    namespace: tenant-a
    serviceAccount: carina-tenant
`
}

// TestTenantAgent: `carina agent`, out of cluster and authenticated as
// the ServiceAccount deploy/ creates with the namespaced-tenants profile,
// deploys an app of tenant-a as the tenant's service account, corrects
// drift and prunes. The audit log shows every request of the agent in
// the tenant's namespace under the tenant's identity, but the Events it
// posts there under its own.
func TestTenantAgent(t *testing.T) {
	c, cs := needCluster(t)
	installRBAC(t, "deploy/kustomize/overlays/namespaced-tenants")
	kubeconfig := writeKubeconfig(t, agentConfig(t), "")
	repo := newGitRepo(t)
	repo.commit("v1", "lp-tenant/Appfile", tenantAppfile("v1", true))
	start := time.Now()
	startAgent(t, repo.dir, kubeconfig)
	ctx := t.Context()
	const ns = "tenant-a"

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
	mustKubectl(t, nil, "-n", ns, "scale", "deployment/web", "--replicas=5")
	eventually(t, 30*time.Second, "drift corrected", func() (bool, string) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return *d.Spec.Replicas == 2, fmt.Sprintf("replicas %d", *d.Spec.Replicas)
	})
	repo.commit("v2 without the Service", "lp-tenant/Appfile", tenantAppfile("v2", false))
	eventually(t, 60*time.Second, "Service pruned", func() (bool, string) {
		_, err := cs.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
		return greeting() == "v2" && err != nil, fmt.Sprintf("greeting %q, service %v", greeting(), err)
	})
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "carina-inv.lp-tenant.prod", metav1.GetOptions{}); err != nil {
		t.Errorf("the tenant's inventory is not in %s: %v", ns, err)
	}
	checkTenantAgentAudit(t, c, ns, start)
}

// checkTenantAgentAudit: since start, every request of the agent's
// ServiceAccount in ns ran as the tenant (its Events aside), and those
// requests deployed, corrected and pruned.
func checkTenantAgentAudit(t *testing.T, c *cluster.Cluster, ns string, start time.Time) {
	t.Helper()
	events, err := c.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	var writes []string
	n := 0
	for _, ev := range events {
		if ev.User.Username != agentSA || ev.ObjectRef == nil || ev.ObjectRef.Namespace != ns || ev.StageTimestamp.Time.Before(start) {
			continue
		}
		n++
		if ev.ImpersonatedUser == nil {
			if ev.ObjectRef.Resource != "events" {
				t.Errorf("request %s %s as %s, not as %s", ev.Verb, ev.RequestURI, agentSA, tenantSA)
			}
			continue
		}
		if ev.ImpersonatedUser.Username != tenantSA {
			t.Errorf("request %s %s as %s, not as %s", ev.Verb, ev.RequestURI, ev.ImpersonatedUser.Username, tenantSA)
		}
		if cluster.WriteVerbs[ev.Verb] && ev.ResponseStatus != nil && ev.ResponseStatus.Code < 300 && !strings.Contains(ev.RequestURI, "dryRun=All") {
			writes = append(writes, ev.Verb+" "+ev.ObjectRef.Resource)
		}
	}
	for _, want := range []string{"patch configmaps", "patch deployments", "delete services"} {
		if !slices.Contains(writes, want) {
			t.Errorf("no %q as %s in %s; writes: %v", want, tenantSA, ns, writes)
		}
	}
	t.Logf("%d requests of %s in %s, all as %s but Events; %d writes", n, agentSA, ns, tenantSA, len(writes))
}
