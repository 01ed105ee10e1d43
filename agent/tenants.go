package agent

import (
	"fmt"
	"sync"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/apply"
)

// extraServiceAccount names, in a tenant's inventory, the service account
// its objects were applied as, so that an orphan found in the tenant's
// namespace is pruned as that account (orphans).
const extraServiceAccount = "carina.serviceAccount"

// identity is who the requests of an environment run as in its clusters:
// the agent itself (the zero value), or the service account its
// topology policy names, of the environment's namespace, which then also
// holds the inventory. It is a value: a reconcile, a removal or the drift
// intent of an env carries the identity its objects were applied as.
type identity struct {
	namespace, serviceAccount string
}

// identityOf is the identity of an environment.
func identityOf(e appfile.Environment) identity {
	if e.ServiceAccount == "" {
		return identity{}
	}
	return identity{namespace: e.Namespace, serviceAccount: e.ServiceAccount}
}

// tenant reports whether id is a tenant's service account.
func (id identity) tenant() bool { return id.serviceAccount != "" }

// String is the user the API server sees.
func (id identity) String() string {
	if !id.tenant() {
		return "the agent"
	}
	return "system:serviceaccount:" + id.namespace + ":" + id.serviceAccount
}

// foundIdentity is the identity to act as on an inventory the agent
// found by listing a cluster (an orphan): the service account it records,
// of the namespace it is in, or the agent for one in the agent's own
// inventory namespace. An inventory elsewhere that records no service
// account is not the agent's to touch: anyone who may write a ConfigMap
// there could have written it, and the agent would delete what it lists
// with its own rights.
func foundIdentity(f apply.FoundInventory, agentNamespace string) (identity, bool) {
	if sa := f.Extra[extraServiceAccount]; sa != "" {
		return identity{namespace: f.Namespace, serviceAccount: sa}, true
	}
	return identity{}, f.Namespace == agentNamespace
}

// Impersonator is a cluster's Target that can act as a tenant: it
// returns a Target whose every request runs as the service account of
// namespace, with its inventories in that namespace. *apply.Manager
// implements it.
type Impersonator interface {
	ImpersonateTenant(namespace, serviceAccount string) (*apply.Manager, error)
}

var _ Impersonator = (*apply.Manager)(nil)

// targetSet owns the Target of each cluster and the tenant Targets made
// from them: one per (cluster, identity), built on first use and kept,
// so that a tenant's REST client and connections serve all its requests.
type targetSet struct {
	clusters map[string]Target
	// agentNamespace holds the inventories of environments without a
	// service account.
	agentNamespace string

	mu      sync.Mutex
	tenants map[tenantKey]Target
}

type tenantKey struct {
	cluster string
	as      identity
}

func newTargetSet(clusters map[string]Target) *targetSet {
	return &targetSet{clusters: clusters, agentNamespace: apply.DefaultOptions().InventoryNamespace, tenants: map[tenantKey]Target{}}
}

// get returns the Target of cluster that acts as id.
func (ts *targetSet) get(cluster string, id identity) (Target, error) {
	t, ok := ts.clusters[cluster]
	if !ok {
		return nil, errNoCluster(cluster)
	}
	if !id.tenant() {
		return t, nil
	}
	k := tenantKey{cluster, id}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if tt := ts.tenants[k]; tt != nil {
		return tt, nil
	}
	imp, ok := t.(Impersonator)
	if !ok {
		return nil, fmt.Errorf("cluster %s cannot act as %s", cluster, id)
	}
	m, err := imp.ImpersonateTenant(id.namespace, id.serviceAccount)
	if err != nil {
		return nil, fmt.Errorf("cluster %s as %s: %w", cluster, id, err)
	}
	ts.tenants[k] = m
	return m, nil
}
