package drift

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/health"
)

// noteHealth records the health mark of a live object of (app, env) and
// tells OnHealth when it moved. The first mark of an object after the
// Watcher started is its baseline: the apply that made it live read its
// health already.
func (w *Watcher) noteHealth(k envKey, id string, obj *apply.Object, live *unstructured.Unstructured) {
	if w.opts.OnHealth == nil {
		return
	}
	mark := healthMark(obj, live)
	w.mu.Lock()
	in := w.intents[k]
	if in == nil || in.objs[id] != obj {
		w.mu.Unlock()
		return // tracked again meanwhile: the new intent starts its own marks
	}
	prev, had := in.health[id]
	in.health[id] = mark
	w.mu.Unlock()
	if had && prev != mark {
		w.opts.OnHealth(k.app, k.env)
	}
}

// healthMark is what the health of live depends on, short: kstatus's
// verdict when kstatus decides; for an object whose definition has a
// health policy (which may read any field), a hash of its generation,
// its status and whether it is being deleted. Events that change
// neither (a label, a managed field) leave the mark alone.
func healthMark(obj *apply.Object, live *unstructured.Unstructured) string {
	if obj.Health.IsZero() {
		r, err := health.Compute(live)
		if err != nil {
			return "error"
		}
		return string(r.Status)
	}
	h := sha256.New()
	h.Write([]byte(strconv.FormatInt(live.GetGeneration(), 10)))
	if live.GetDeletionTimestamp() != nil {
		h.Write([]byte(" deleting"))
	}
	if st, ok := live.Object["status"]; ok {
		b, _ := json.Marshal(st) // map keys are sorted: the same status, the same bytes
		h.Write(b)
	}
	return "policy:" + hex.EncodeToString(h.Sum(nil)[:12])
}
