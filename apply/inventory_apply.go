package apply

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/carina-gitops/carina/apply/inventory"
)

// setEntries are the inventory entries of the set's objects (read-only
// objects are never Carina's).
func (a *applier) setEntries() []inventory.Entry {
	var out []inventory.Entry
	for _, it := range a.items {
		p := it.obj.Policies
		if p.ReadOnly {
			continue
		}
		out = append(out, inventory.Entry{ID: it.id, Prune: p.Prune, Orphan: p.Orphan, Shared: it.sharer})
	}
	return out
}

// notInSet are the old inventory's entries that the set no longer has:
// the prune candidates.
func (a *applier) notInSet() []inventory.Entry {
	if a.old == nil {
		return nil
	}
	inSet := make(map[string]bool, len(a.items))
	for _, it := range a.items {
		inSet[it.id.Key()] = true
	}
	var out []inventory.Entry
	for _, e := range a.old.Entries {
		if !inSet[e.ID.Key()] {
			out = append(out, e)
		}
	}
	return out
}

func (a *applier) newInventory(result, message string, entries []inventory.Entry) *inventory.Inventory {
	inv := &inventory.Inventory{
		App: a.set.App, Env: a.set.Env, Revision: a.set.Revision, Digest: a.set.Digest,
		Result: result, Message: message, Time: time.Now().UTC().Truncate(time.Second), Entries: entries,
	}
	if a.old != nil {
		inv.Health, inv.Extra = a.old.Health, a.old.Extra
	}
	inv.Normalize()
	return inv
}

// preWrite records the old and the new objects in the inventory before
// the first write of this apply, so that a crash at any point leaves
// every object Carina may have created in the inventory. It writes only
// when the set has objects the inventory lacks (or their prune options
// changed).
func (a *applier) preWrite(ctx context.Context) error {
	a.wrote = true
	if a.preWritten || a.inventoryCovers() {
		return nil
	}
	inv := a.newInventory(inventory.ResultApplying, "", append(a.setEntries(), a.notInSet()...))
	if err := a.m.writeInventory(ctx, inv); err != nil {
		return err
	}
	a.preWritten = true
	return nil
}

// inventoryCovers reports whether the old inventory already has every
// entry of the set, as it is.
func (a *applier) inventoryCovers() bool {
	if a.old == nil {
		return false
	}
	have := a.old.IDs()
	for _, e := range a.setEntries() {
		if old, ok := have[e.ID.Key()]; !ok || old != e {
			return false
		}
	}
	return true
}

// finalInventory records the outcome: the set's objects and those the
// prune kept. It writes nothing when nothing changed, or when the apply
// failed before writing anything.
func (a *applier) finalInventory(ctx context.Context, err error, kept []inventory.Entry) error {
	if err != nil && !a.wrote {
		return nil
	}
	result, message := inventory.ResultSuccess, ""
	if err != nil {
		result, message = inventory.ResultFailed, err.Error()
	}
	inv := a.newInventory(result, message, append(a.setEntries(), kept...))
	if a.old != nil && !a.preWritten && sameInventory(a.old, inv) {
		return nil
	}
	return a.m.writeInventory(ctx, inv)
}

// sameInventory compares everything but the time.
func sameInventory(a, b *inventory.Inventory) bool {
	return a.App == b.App && a.Env == b.Env && a.Revision == b.Revision && a.Digest == b.Digest &&
		a.Result == b.Result && a.Message == b.Message && a.Health == b.Health &&
		slices.Equal(a.Entries, b.Entries) && maps.Equal(a.Extra, b.Extra)
}
