package main

import (
	"context"
	"fmt"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/health"
	"github.com/carina-gitops/carina/apply/inventory"
)

// clusterStatus reads the status of applications from the inventories
// of one cluster, without an agent: what was applied last, at which
// revision, with which result and health, and which objects. Workflow
// state, drift and history live only in a running agent.
type clusterStatus struct {
	cluster string
	invs    []*inventory.Inventory
}

// readClusterStatus lists the inventories of the cluster of the
// kubeconfig.
func readClusterStatus(ctx context.Context, kubeconfig, kubeContext string) (*clusterStatus, error) {
	cfg, err := restConfig(kubeconfig, kubeContext)
	if err != nil {
		return nil, err
	}
	m, err := apply.New(cfg, apply.DefaultOptions())
	if err != nil {
		return nil, err
	}
	invs, err := listInventories(ctx, m)
	if err != nil && len(invs) == 0 {
		return nil, fmt.Errorf("reading inventories: %w", err)
	}
	name := kubeContext
	if name == "" {
		name = cfg.Host
	}
	sort.Slice(invs, func(i, j int) bool {
		if invs[i].App != invs[j].App {
			return invs[i].App < invs[j].App
		}
		return invs[i].Env < invs[j].Env
	})
	return &clusterStatus{cluster: name, invs: invs}, err
}

// apps is the status table's data.
func (c *clusterStatus) apps() []api.AppSummary {
	var out []api.AppSummary
	for _, inv := range c.invs {
		if len(out) == 0 || out[len(out)-1].Name != inv.App {
			out = append(out, api.AppSummary{Name: inv.App, Source: inv.Extra["carina.source"], Revision: inv.Revision})
		}
		e := c.env(inv)
		out[len(out)-1].Envs = append(out[len(out)-1].Envs, api.EnvSummary{Name: e.Name, Clusters: e.Clusters,
			Revision: e.Revision, Sync: e.Sync, Health: e.Health, LastReconcile: e.LastReconcile})
	}
	return out
}

// app is one application's status; false when no inventory names it.
func (c *clusterStatus) app(name string) (api.AppStatus, bool) {
	out := api.AppStatus{Name: name}
	for _, inv := range c.invs {
		if inv.App != name {
			continue
		}
		out.Source, out.Revision = inv.Extra["carina.source"], inv.Revision
		out.Envs = append(out.Envs, c.env(inv))
	}
	return out, len(out.Envs) > 0
}

// env maps one inventory to an environment's status. The objects are
// listed under their inventory; their health is not read.
func (c *clusterStatus) env(inv *inventory.Inventory) api.EnvStatus {
	e := api.EnvStatus{App: inv.App, Name: inv.Env, Clusters: []string{c.cluster}, Revision: inv.Revision,
		Digest: inv.Digest, Sync: inventorySync(inv.Result), Health: api.HealthOf(health.Status(inv.Health)), LastReconcile: inv.Time}
	if inv.Result == inventory.ResultFailed && inv.Message != "" {
		e.LastError = &api.ErrorStatus{Message: inv.Message, Time: inv.Time}
	}
	comp := api.ComponentStatus{Name: "(inventory)", Health: e.Health}
	for _, en := range inv.Entries {
		comp.Objects = append(comp.Objects, api.ObjectStatus{Cluster: c.cluster, Kind: en.ID.Kind, Namespace: en.ID.Namespace,
			Name: en.ID.Name, Health: api.HealthUnknown})
	}
	if len(comp.Objects) > 0 {
		e.Components = []api.ComponentStatus{comp}
	}
	return e
}

// inventorySync is the sync an apply's recorded result stands for.
func inventorySync(result string) api.Sync {
	switch result {
	case inventory.ResultSuccess:
		return api.SyncSynced
	case inventory.ResultFailed:
		return api.SyncStalled
	case inventory.ResultApplying:
		return api.SyncOutOfSync // an apply runs, or was interrupted
	}
	return api.SyncUnknown
}

// listInventories lists the inventories of every namespace (a tenant's
// are in its own), or, for a user who may not list ConfigMaps in every
// namespace, those of the agent's inventory namespace.
func listInventories(ctx context.Context, m *apply.Manager) ([]*inventory.Inventory, error) {
	found, err := m.ListAllInventories(ctx)
	if apierrors.IsForbidden(err) && len(found) == 0 {
		return m.ListInventories(ctx)
	}
	invs := make([]*inventory.Inventory, len(found))
	for i, f := range found {
		invs[i] = f.Inventory
	}
	return invs, err
}
