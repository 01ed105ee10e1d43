package apply

import (
	"context"
	"time"

	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/internal/panics"
)

// Delete removes everything the inventory of (app, env) holds (objects
// kept until the app is deleted included, garbage-collect "never" and
// prune-disabled objects excepted), with the same safety rules as prune,
// then the inventory itself. Objects whose delete fails stay in the
// inventory, and Delete can be called again.
func (m *Manager) Delete(ctx context.Context, app, env string) (_ *ChangeSet, err error) {
	defer panics.Recover("apply", &err)
	cs := &ChangeSet{App: app, Env: env}
	inv, err := m.ReadInventory(ctx, app, env)
	if err != nil || inv == nil {
		return cs, err
	}
	set := &Set{App: app, Env: env}
	p := &pruner{m: m, set: set, km: newKindMapper(m, nil), appDelete: true}
	start := time.Now()
	kept, n, pruneErr := p.run(ctx, inv.Entries)
	cs.Entries = p.entries
	cs.Stages = []StageReport{{Name: StagePrune, Objects: len(inv.Entries), Writes: n, Duration: time.Since(start)}}
	if len(kept) == 0 && pruneErr == nil {
		return cs, m.deleteInventory(ctx, app, env)
	}
	inv.Entries, inv.Result, inv.Time = kept, inventory.ResultFailed, time.Now().UTC().Truncate(time.Second)
	if pruneErr != nil {
		inv.Message = pruneErr.Error()
	}
	if err := m.writeInventory(ctx, inv); err != nil {
		return cs, err
	}
	return cs, pruneErr
}
