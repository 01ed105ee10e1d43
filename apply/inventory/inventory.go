package inventory

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Inventory is what Carina knows about one (app, env) in one cluster.
type Inventory struct {
	App string
	Env string
	// Revision is the source revision last applied (a commit SHA).
	Revision string
	// Digest is the render digest last applied.
	Digest string
	// Result is the outcome of the last apply: ResultApplying while an
	// apply runs, then ResultSuccess or ResultFailed.
	Result string
	// Message explains a failed result (bounded, see MaxMessageBytes).
	Message string
	// Health is the last known health of the app (Current, InProgress,
	// Failed, ...), "" when never computed.
	Health string
	// Time is when the inventory last changed.
	Time time.Time
	// Entries are the objects Carina applied and has not pruned yet,
	// sorted by key and unique.
	Entries []Entry
	// Extra holds opaque values of other parts of Carina (workflow
	// state). Keys match [-._a-zA-Z0-9]+, at most 200 bytes.
	Extra map[string]string
}

// Results of an apply.
const (
	ResultApplying = "applying"
	ResultSuccess  = "success"
	ResultFailed   = "failed"
)

// MaxMessageBytes bounds Inventory.Message when encoded.
const MaxMessageBytes = 2048

// Entry is one object of the inventory and what prune must know about it
// once the object has left the set.
type Entry struct {
	ID ID
	// Prune says when prune may delete the object.
	Prune PruneMode
	// Orphan deletes with orphan propagation (dependents are kept).
	Orphan bool
	// Shared marks an object that another app owns and this app only
	// shares: prune removes this app's share mark and never deletes it.
	Shared bool
}

// PruneMode says when prune may delete an object.
type PruneMode string

const (
	// PruneOnUpdate deletes the object once it leaves the set (default).
	PruneOnUpdate PruneMode = ""
	// PruneOnAppDelete keeps the object until the whole app is deleted.
	PruneOnAppDelete PruneMode = "onAppDelete"
	// PruneNever never deletes the object; it is forgotten instead.
	PruneNever PruneMode = "never"
)

// flags encodes the entry's options as letters after its key.
func (e Entry) flags() string {
	var b strings.Builder
	switch e.Prune {
	case PruneOnAppDelete:
		b.WriteByte('d')
	case PruneNever:
		b.WriteByte('n')
	}
	if e.Orphan {
		b.WriteByte('o')
	}
	if e.Shared {
		b.WriteByte('s')
	}
	return b.String()
}

func (e *Entry) setFlags(f string) error {
	for _, c := range f {
		switch c {
		case 'd':
			e.Prune = PruneOnAppDelete
		case 'n':
			e.Prune = PruneNever
		case 'o':
			e.Orphan = true
		case 's':
			e.Shared = true
		default:
			return fmt.Errorf("unknown flag %q", c)
		}
	}
	return nil
}

// line is the entry's line in the objects list: the key, then a space and
// the flags when there are any.
func (e Entry) line() string {
	if f := e.flags(); f != "" {
		return e.ID.Key() + " " + f
	}
	return e.ID.Key()
}

func parseLine(s string) (Entry, error) {
	key, f, _ := strings.Cut(s, " ")
	id, err := ParseKey(key)
	if err != nil {
		return Entry{}, err
	}
	e := Entry{ID: id}
	if err := e.setFlags(f); err != nil {
		return Entry{}, fmt.Errorf("inventory entry %q: %w", s, err)
	}
	return e, nil
}

// Normalize sorts the entries by key and merges duplicates: the last
// entry of an ID wins.
func (inv *Inventory) Normalize() {
	byKey := make(map[string]Entry, len(inv.Entries))
	for _, e := range inv.Entries {
		byKey[e.ID.Key()] = e
	}
	inv.Entries = slices.SortedFunc(maps.Values(byKey), func(a, b Entry) int {
		return cmp.Compare(a.ID.Key(), b.ID.Key())
	})
}

// IDs returns the set of the inventory's object keys.
func (inv *Inventory) IDs() map[string]Entry {
	out := make(map[string]Entry, len(inv.Entries))
	for _, e := range inv.Entries {
		out[e.ID.Key()] = e
	}
	return out
}

var extraKey = regexp.MustCompile(`^[-._a-zA-Z0-9]{1,200}$`)

// Name is the name of the ConfigMap holding the inventory of (app, env):
// carina-inv.<app>.<env>. The dot cannot occur in app or environment names
// that are DNS labels, so two pairs never share a name. Pairs that do not
// make a valid name get carina-inv.<hash> instead.
func Name(app, env string) string {
	n := "carina-inv." + app + "." + env
	if len(validation.IsDNS1123Subdomain(n)) == 0 && !strings.Contains(app, ".") && !strings.Contains(env, ".") {
		return n
	}
	sum := sha256.Sum256([]byte(app + "\x00" + env))
	return "carina-inv." + hex.EncodeToString(sum[:10])
}
