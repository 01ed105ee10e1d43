package agent

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/inventory"
)

// TestFoundIdentity: an orphan is pruned as the service account its
// inventory records, of the namespace that holds it; one without a
// service account only when it is in the agent's own namespace.
func TestFoundIdentity(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ns    string
		extra map[string]string
		want  identity
		ok    bool
	}{
		{"agent's namespace", "carina-system", nil, identity{}, true},
		{"tenant", "shop", map[string]string{extraServiceAccount: "deployer"}, identity{"shop", "deployer"}, true},
		{"service account in the agent's namespace", "carina-system", map[string]string{extraServiceAccount: "deployer"}, identity{"carina-system", "deployer"}, true},
		{"no service account elsewhere", "shop", map[string]string{extraSource: "apps"}, identity{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := apply.FoundInventory{Namespace: tc.ns, Inventory: &inventory.Inventory{App: "a", Env: "e", Extra: tc.extra}}
			got, ok := foundIdentity(f, "carina-system")
			if ok != tc.ok || got != tc.want {
				t.Errorf("foundIdentity = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestIdentityOf(t *testing.T) {
	for _, tc := range []struct {
		env  appfile.Environment
		want string
	}{
		{appfile.Environment{Name: "prod", Namespace: "shop"}, "the agent"},
		{appfile.Environment{Name: "prod", Namespace: "shop", ServiceAccount: "deployer"}, "system:serviceaccount:shop:deployer"},
	} {
		if got := identityOf(tc.env).String(); got != tc.want {
			t.Errorf("identityOf(%+v) = %s, want %s", tc.env, got, tc.want)
		}
	}
}

// noImpersonation is a Target that cannot act as anyone else.
type noImpersonation struct{ Target }

// TestTargetSetBuildsEachTenantOnce: the Target of a (cluster, identity)
// is built once and kept; the agent's identity is the cluster's Target;
// a Target that cannot impersonate and an unknown cluster are errors.
func TestTargetSetBuildsEachTenantOnce(t *testing.T) {
	m, err := apply.New(&rest.Config{Host: "https://127.0.0.1:1"}, apply.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ts := newTargetSet(map[string]Target{"local": m, "fake": noImpersonation{}})
	shop := identity{"shop", "deployer"}
	a, err := ts.get("local", shop)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ts.get("local", shop)
	other, _ := ts.get("local", identity{"blog", "deployer"})
	agent, _ := ts.get("local", identity{})
	if a != b || a == other || a == Target(m) || agent != Target(m) {
		t.Errorf("targets: shop %p again %p, blog %p, agent %p (cluster %p)", a, b, other, agent, m)
	}
	var errs []string
	for _, c := range []string{"fake", "gone"} {
		if _, err := ts.get(c, shop); err != nil {
			errs = append(errs, err.Error())
		}
	}
	want := []string{"cluster fake cannot act as system:serviceaccount:shop:deployer", `cluster "gone" is not configured`}
	if diff := cmp.Diff(want, errs); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}
