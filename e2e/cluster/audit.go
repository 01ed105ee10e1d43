package cluster

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// auditPolicy records every request at Metadata level once, when its
// response completes, so that tests can count reads and writes by user.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted"]
rules:
- level: Metadata
`

// AuditEvents reads the API server's audit log: one event per completed
// request, in order. The log is written synchronously, so a request that
// returned before the call is in the result.
func (c *Cluster) AuditEvents() ([]auditv1.Event, error) {
	f, err := os.Open(c.auditLog)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	defer f.Close()
	var events []auditv1.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var ev auditv1.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("audit log line %d: %w", len(events)+1, err)
		}
		events = append(events, ev)
	}
	return events, sc.Err()
}

// WriteVerbs are the verbs that change state.
var WriteVerbs = map[string]bool{"create": true, "update": true, "patch": true, "delete": true, "deletecollection": true}

// Filter selects audit events.
type Filter struct {
	User      string // exact user name; "" = any
	Namespace string // "" = any
	Writes    bool   // only create/update/patch/delete
	Verb      string // "" = any
	Resource  string // plural resource, "" = any
}

// Match reports whether ev passes the filter.
func (f Filter) Match(ev auditv1.Event) bool {
	if f.User != "" && ev.User.Username != f.User {
		return false
	}
	if f.Writes && !WriteVerbs[ev.Verb] {
		return false
	}
	if f.Verb != "" && ev.Verb != f.Verb {
		return false
	}
	if ev.ObjectRef == nil {
		return f.Namespace == "" && f.Resource == ""
	}
	if f.Namespace != "" && ev.ObjectRef.Namespace != f.Namespace {
		return false
	}
	return f.Resource == "" || ev.ObjectRef.Resource == f.Resource
}

// Select returns the events that match f.
func Select(events []auditv1.Event, f Filter) []auditv1.Event {
	var out []auditv1.Event
	for _, ev := range events {
		if f.Match(ev) {
			out = append(out, ev)
		}
	}
	return out
}
