package applytest

import (
	"sort"
	"strconv"
	"strings"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/carina-gitops/carina/e2e/cluster"
)

// DryRun reports whether an audited request was a dry-run.
func DryRun(ev auditv1.Event) bool { return strings.Contains(ev.RequestURI, "dryRun=All") }

// Writes returns the events of user that changed state (dry-runs
// excluded) in namespace ns or on the named object of namespace objNS.
func Writes(events []auditv1.Event, user, ns, objNS, objName string) []auditv1.Event {
	var out []auditv1.Event
	for _, ev := range cluster.Select(events, cluster.Filter{User: user, Writes: true}) {
		if DryRun(ev) || ev.ObjectRef == nil {
			continue
		}
		r := ev.ObjectRef
		if r.Namespace == ns || (r.Namespace == objNS && r.Name == objName) || (r.Resource == "namespaces" && r.Name == ns) {
			out = append(out, ev)
		}
	}
	return out
}

// Since returns the events after the first n.
func Since(events []auditv1.Event, n int) []auditv1.Event {
	if n > len(events) {
		return nil
	}
	return events[n:]
}

// Verbs counts events by verb (dry-run patches as "patch(dry-run)") and
// resource, in a stable order: "list configmaps: 1".
func Verbs(events []auditv1.Event) []string {
	counts := map[string]int{}
	for _, ev := range events {
		verb := ev.Verb
		if DryRun(ev) {
			verb += "(dry-run)"
		}
		res := ""
		if ev.ObjectRef != nil {
			res = ev.ObjectRef.Resource
		}
		counts[verb+" "+res]++
	}
	var out []string
	for k, v := range counts {
		out = append(out, k+": "+strconv.Itoa(v))
	}
	sort.Strings(out)
	return out
}

// Describe prints events compactly for failure messages.
func Describe(events []auditv1.Event) string {
	var b strings.Builder
	for _, ev := range events {
		b.WriteString(ev.Verb + " " + ev.RequestURI + "\n")
	}
	return b.String()
}
