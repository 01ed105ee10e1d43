package inventory

import (
	"errors"
	"fmt"
)

// ErrCorrupt matches (with errors.Is) every inventory that exists but does
// not decode: unreadable data, a broken gzip, a bad entry, over the size
// bounds, or one naming another app. A caller must never read it as "no
// inventory": the objects it lists are unknown, so nothing may be pruned.
var ErrCorrupt = errors.New("inventory corrupt")

// RecoverHint says how a person rebuilds a corrupt or lost inventory.
const RecoverHint = "nothing is pruned until it is rebuilt: `carina apply --rebuild-inventory` adopts the objects that carry the app's labels into a new inventory"

// CorruptError is an inventory ConfigMap that does not decode.
type CorruptError struct {
	// Ref is the ConfigMap, "ConfigMap/namespace/name".
	Ref string
	// Err is the decoding error (it may match ErrTooLarge).
	Err error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s: inventory corrupt: %v; %s", e.Ref, e.Err, RecoverHint)
}

// Is matches ErrCorrupt.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap returns the decoding error.
func (e *CorruptError) Unwrap() error { return e.Err }

// ErrLost matches (with errors.Is) an inventory that is missing while
// the cluster still holds objects carrying the app's labels: it was
// deleted. Applying without it would forget what to prune later, so an
// apply that asks for it (apply.ApplyOptions.RefuseLostInventory) writes
// nothing.
var ErrLost = errors.New("inventory lost")

// LostError is a missing inventory whose app still has labelled objects.
type LostError struct {
	// Ref is the missing ConfigMap, "ConfigMap/namespace/name".
	Ref string
	// Found counts the labelled objects found; First names one.
	Found int
	First string
}

func (e *LostError) Error() string {
	return fmt.Sprintf("%s: inventory missing, but %d objects in the cluster carry the app's labels (%s among them); %s", e.Ref, e.Found, e.First, RecoverHint)
}

// Is matches ErrLost.
func (e *LostError) Is(target error) bool { return target == ErrLost }
