package health

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// condition is the common shape of status.conditions entries.
type condition struct {
	Type, Status, Reason, Message string
}

// conditions reads status.conditions; malformed entries are skipped.
func conditions(u *unstructured.Unstructured) []condition {
	list, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	var out []condition
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		str := func(k string) string { s, _ := m[k].(string); return s }
		out = append(out, condition{Type: str("type"), Status: str("status"), Reason: str("reason"), Message: str("message")})
	}
	return out
}

func findCondition(cs []condition, typ string) (condition, bool) {
	for _, c := range cs {
		if c.Type == typ {
			return c, true
		}
	}
	return condition{}, false
}

// explain joins a condition's reason and message.
func (c condition) explain() string {
	switch {
	case c.Reason != "" && c.Message != "":
		return c.Reason + ": " + c.Message
	case c.Message != "":
		return c.Message
	default:
		return c.Reason
	}
}

// genericHealth follows kstatus for kinds without specific rules:
// Stalled=True is Failed, Reconciling=True is InProgress, Ready decides
// when present, and an object without these conditions is Current.
func genericHealth(u *unstructured.Unstructured) (Result, error) {
	cs := conditions(u)
	if c, ok := findCondition(cs, "Stalled"); ok && c.Status == "True" {
		return failed("stalled: %s", c.explain()), nil
	}
	if c, ok := findCondition(cs, "Reconciling"); ok && c.Status == "True" {
		return inProgress("reconciling: %s", c.explain()), nil
	}
	if c, ok := findCondition(cs, "Ready"); ok {
		switch c.Status {
		case "True":
			return current("ready"), nil
		case "False":
			return inProgress("not ready: %s", c.explain()), nil
		default:
			return inProgress("readiness unknown: %s", c.explain()), nil
		}
	}
	return Result{Status: Current}, nil
}
