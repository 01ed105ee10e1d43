// Package drift watches the objects Carina applied and tells when the
// live cluster no longer matches the last applied intent.
//
// A Watcher serves one cluster. The agent tells it the intent of each
// (app, env) after every successful apply (Track), pauses it while an
// apply runs (Pause) and drops it when the intent is gone (Forget). The
// Watcher keeps one watch per resource type that some intent has, with
// the label selector of Carina's objects, so steady state costs no
// request beyond the watch streams and keeps no copy of the objects.
//
// Each change is classified:
//
//   - changed only in fields Carina does not own (status, a label
//     someone added, a field an HPA owns): not drift, nothing happens;
//   - Modified: a field the intent sets has another value;
//   - Deleted: the object is gone (or no longer carries Carina's labels
//     and cannot be found);
//   - Resolved: an object reported before is back in line.
//
// The first check is local: Carina's managedFields entry still names
// every field of the intent with the intended values (apply.Unchanged).
// Only when that cannot be proven is the server asked (a GET, a forced
// dry-run), so events from controllers updating status cost nothing.
//
// Of a Secret the Watcher keeps no value: only an HMAC of each data and
// stringData value, keyed at random per Watcher, and the Secret's other
// fields. Its values are compared by hash before the rest, an event of
// a Secret is read again rather than queued with its values, and a
// finding names the keys that differ (Finding.Keys), never a value.
//
// Contests decides what to do about a drifted object that the policy
// says to correct: correct it now, or, when another controller keeps
// undoing the corrections, report it as contested and back off.
//
// The package returns data (Findings, Decisions) and never logs; the
// agent records metrics, status and events and performs corrections.
package drift
