package health

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// Status is the health of an object, as in kstatus.
type Status string

// Statuses. Their order for a rollup is rank's, not this list's.
const (
	// Current: the object is what its spec asks for.
	Current Status = "Current"
	// NotFound: the object does not exist.
	NotFound Status = "NotFound"
	// Unknown: the status could not be computed.
	Unknown Status = "Unknown"
	// InProgress: the object is on its way to its spec.
	InProgress Status = "InProgress"
	// Terminating: the object is being deleted.
	Terminating Status = "Terminating"
	// Failed: the object cannot reach its spec without a change.
	Failed Status = "Failed"
)

// rank is the one order of health in Carina, from best to worst: apply's
// rollups, the agent, its workflow gates and its status all use it
// (through Worst; agent/api maps the result with HealthOf, so that the
// API's Healthy < Progressing < Unknown < Missing < Degraded is this
// order too). A missing object is worse than one on its way.
var rank = map[Status]int{Current: 0, InProgress: 1, Terminating: 2, Unknown: 3, NotFound: 4, Failed: 5}

// Worst returns the worse of two statuses (Failed is the worst; Current the
// best).
func Worst(a, b Status) Status {
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// Result is the computed health of one object.
type Result struct {
	Status  Status `json:"status"`
	Message string `json:"message,omitempty"`
}

func current(format string, args ...any) Result {
	return Result{Current, fmt.Sprintf(format, args...)}
}

func inProgress(format string, args ...any) Result {
	return Result{InProgress, fmt.Sprintf(format, args...)}
}

func failed(format string, args ...any) Result {
	return Result{Failed, fmt.Sprintf(format, args...)}
}

// rule is Carina's own rule for one kind. It gets kstatus's verdict and
// returns it, or the verdict that Carina needs instead.
type rule func(u *unstructured.Unstructured, ks Result) (Result, error)

// rules are the kinds where kstatus has no rule or one that is wrong for
// a GitOps agent's gates; each rule's comment says why it remains.
var rules = map[schema.GroupKind]rule{
	{Group: "apps", Kind: "Deployment"}:           deploymentHealth,
	{Group: "apps", Kind: "StatefulSet"}:          statefulSetHealth,
	{Group: "apps", Kind: "ReplicaSet"}:           replicaSetHealth,
	{Kind: "Pod"}:                                 podHealth,
	{Group: "batch", Kind: "Job"}:                 jobHealth,
	{Kind: "Service"}:                             serviceHealth,
	{Kind: "PersistentVolumeClaim"}:               pvcHealth,
	{Group: "networking.k8s.io", Kind: "Ingress"}: ingressHealth,
}

// Compute returns the health of a live object, as the API server returns
// it (integers as int64): NotFound for nil, else kstatus's verdict
// (Terminating once deletion started, InProgress while the controller has
// not observed the latest generation, the conditions Stalled and
// Reconciling, kstatus's rules for built-in kinds, then the condition
// Ready; an object with none of these is Current), refined by Carina's
// own rule for the kind, if it has one. Compute is pure: its result does
// not depend on the clock (the Pod rule replaces kstatus's timed verdict).
func Compute(u *unstructured.Unstructured) (Result, error) {
	if u == nil {
		return Result{Status: NotFound, Message: "object does not exist"}, nil
	}
	ks, err := kstatus.Compute(u)
	if err != nil {
		return unknown(u, err)
	}
	r := Result{Status: fromKstatus(ks.Status), Message: message(ks)}
	own, ok := rules[u.GroupVersionKind().GroupKind()]
	if !ok || r.Status == Terminating || !generationObserved(u) {
		return r, nil
	}
	if r, err = own(u, r); err != nil {
		return unknown(u, err)
	}
	return r, nil
}

func unknown(u *unstructured.Unstructured, err error) (Result, error) {
	return Result{Status: Unknown, Message: err.Error()}, fmt.Errorf("%s/%s: health: %w", u.GetKind(), u.GetName(), err)
}

// fromKstatus maps kstatus's statuses to ours, which have the same names;
// a status kstatus may add later is Unknown until it is mapped.
func fromKstatus(s kstatus.Status) Status {
	switch s {
	case kstatus.CurrentStatus:
		return Current
	case kstatus.InProgressStatus:
		return InProgress
	case kstatus.FailedStatus:
		return Failed
	case kstatus.TerminatingStatus:
		return Terminating
	case kstatus.NotFoundStatus:
		return NotFound
	}
	return Unknown
}

// message is kstatus's message, completed with the message of the
// condition it decided on when it leaves that out (a Deployment past its
// progress deadline names the ReplicaSet that timed out there), or with
// the condition's reason when there is no message at all.
func message(ks *kstatus.Result) string {
	msg := ks.Message
	for _, c := range ks.Conditions {
		switch {
		case c.Message != "" && !strings.Contains(msg, c.Message):
			msg = join(msg, c.Message)
		case msg == "":
			msg = c.Reason
		}
	}
	return msg
}

// generationObserved is false while status.observedGeneration lags
// metadata.generation. kstatus then says InProgress, and no own rule may
// turn that into another verdict, since the status describes an older
// spec.
func generationObserved(u *unstructured.Unstructured) bool {
	observed, found, err := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	return err != nil || !found || observed == u.GetGeneration()
}

// fromUnstructured converts to a typed object.
func fromUnstructured(u *unstructured.Unstructured, out any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out)
}

// join joins a reason and a message with ": ", or returns the one that is
// not empty.
func join(reason, message string) string {
	switch {
	case reason != "" && message != "":
		return reason + ": " + message
	case message != "":
		return message
	default:
		return reason
	}
}
