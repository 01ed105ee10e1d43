package agent

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/carina-gitops/carina/apply"
)

// Event is one Kubernetes Event about an (app, env).
type Event struct {
	App, Env  string
	Namespace string
	// Type is Normal or Warning.
	Type    string
	Reason  string
	Message string
}

// EventSink posts Events to a cluster.
type EventSink interface {
	Post(ctx context.Context, cluster string, ev Event) error
}

// eventRecorder turns reconcile outcomes into Events. Posting happens on
// its own goroutine so that a slow or rate-limited Events API never holds
// a worker; when the buffer is full an Event is dropped and logged. The
// goroutine runs while this replica leads (an Event is a write), and an
// Event raised while it does not lead is dropped: the leader raises its
// own.
type eventRecorder struct {
	sink EventSink
	log  *slog.Logger
	ch   chan clusterEvent
	// leading reports whether this replica leads; nil means it does.
	leading func() bool
}

type clusterEvent struct {
	cluster string
	ev      Event
}

// eventBuffer bounds the Events waiting to be posted.
const eventBuffer = 1024

func newEventRecorder(sink EventSink, log *slog.Logger) *eventRecorder {
	return &eventRecorder{sink: sink, log: log, ch: make(chan clusterEvent, eventBuffer)}
}

// run posts Events until ctx ends.
func (r *eventRecorder) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ce := <-r.ch:
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := r.sink.Post(pctx, ce.cluster, ce.ev)
			cancel()
			if err != nil && ctx.Err() == nil {
				r.log.Warn("event not posted", "app", ce.ev.App, "env", ce.ev.Env, "reason", ce.ev.Reason, "error", sanitize(err, time.Time{}).Message)
			}
		}
	}
}

func (r *eventRecorder) post(_ context.Context, cluster string, ev Event) {
	if r.sink == nil || ev.Namespace == "" || r.leading != nil && !r.leading() {
		return
	}
	select {
	case r.ch <- clusterEvent{cluster, ev}:
	default:
		r.log.Warn("event dropped: too many waiting", "app", ev.App, "env", ev.Env, "reason", ev.Reason)
	}
}

// changeSet posts Deployed, Pruned or ApplyFailed for one apply.
func (r *eventRecorder) changeSet(ctx context.Context, cluster, app, env string, set *apply.Set, cs *apply.ChangeSet, err error) {
	base := Event{App: app, Env: env, Namespace: setNamespace(set)}
	if err != nil {
		ev := base
		ev.Type, ev.Reason, ev.Message = corev1.EventTypeWarning, "ApplyFailed", sanitize(err, time.Time{}).Message
		r.post(ctx, cluster, ev)
		return
	}
	if n := cs.Count(apply.Created) + cs.Count(apply.Configured); n > 0 {
		ev := base
		ev.Type, ev.Reason = corev1.EventTypeNormal, "Deployed"
		ev.Message = fmt.Sprintf("revision %s: %s", shortRev(set.Revision), cs.Summary())
		r.post(ctx, cluster, ev)
	}
	if n := cs.Count(apply.Pruned); n > 0 {
		ev := base
		ev.Type, ev.Reason, ev.Message = corev1.EventTypeNormal, "Pruned", fmt.Sprintf("%d objects pruned", n)
		r.post(ctx, cluster, ev)
	}
}

// driftCorrected posts DriftCorrected for the objects a correction
// wrote, or DriftCorrectionFailed.
func (r *eventRecorder) driftCorrected(ctx context.Context, cluster, app, env string, set *apply.Set, cs *apply.ChangeSet, err error) {
	ev := Event{App: app, Env: env, Namespace: setNamespace(set)}
	if err != nil {
		ev.Type, ev.Reason, ev.Message = corev1.EventTypeWarning, "DriftCorrectionFailed", sanitize(err, time.Time{}).Message
		r.post(ctx, cluster, ev)
		return
	}
	var fixed []string
	for _, e := range cs.Entries {
		if e.Action == apply.Created || e.Action == apply.Configured {
			fixed = append(fixed, fmt.Sprintf("%s %s", e.ID, e.Action))
		}
	}
	if len(fixed) == 0 {
		return
	}
	ev.Type, ev.Reason = corev1.EventTypeNormal, "DriftCorrected"
	ev.Message = fmt.Sprintf("back to revision %s: %s", shortRev(set.Revision), strings.Join(fixed, ", "))
	r.post(ctx, cluster, ev)
}

// driftLeft posts DriftDetected (Warning) for a drifted object that is
// not corrected now: its policy only reports, or it is contested.
func (r *eventRecorder) driftLeft(ctx context.Context, cluster, app, env, namespace, object, why string) {
	r.post(ctx, cluster, Event{App: app, Env: env, Namespace: namespace, Type: corev1.EventTypeWarning,
		Reason: "DriftDetected", Message: object + " " + why})
}

// appWarning posts a Warning Event about d in each cluster of each of its
// environments, in the environment's namespace (the app's, or
// "default").
func (r *eventRecorder) appWarning(ctx context.Context, d *desiredApp, reason, message string) {
	for _, e := range d.Envs {
		ns := cmp.Or(e.Namespace, d.App.Namespace, "default")
		for _, c := range e.Clusters {
			r.post(ctx, c, Event{App: d.Name, Env: e.Name, Namespace: ns, Type: corev1.EventTypeWarning, Reason: reason, Message: message})
		}
	}
}

// setNamespace is the namespace of a set's first namespaced object, where
// the Events of its (app, env) go.
func setNamespace(set *apply.Set) string {
	for _, o := range set.Objects {
		if ns := o.Obj.GetNamespace(); ns != "" {
			return ns
		}
	}
	return ""
}

// shortRev shortens a commit id to 12 hex digits, and an OCI digest
// ("sha256:<hex>") to its algorithm and 12 hex digits.
func shortRev(rev string) string {
	n := 12
	if strings.HasPrefix(rev, "sha256:") {
		n += len("sha256:")
	}
	if len(rev) > n {
		return rev[:n]
	}
	return rev
}

// KubeEvents posts Events with a client per cluster. The Event's
// involved object is the application (core.oam.dev/v1beta1
// Application), in the environment's namespace, so `kubectl get events`
// there shows it.
type KubeEvents struct {
	Clients map[string]kubernetes.Interface
	// Component is the Event's source component.
	Component string
	// Host is the reporting instance.
	Host string
}

// Post creates the Event.
func (k *KubeEvents) Post(ctx context.Context, cluster string, ev Event) error {
	c, ok := k.Clients[cluster]
	if !ok {
		return fmt.Errorf("no event client for cluster %s", cluster)
	}
	now := metav1.NewTime(time.Now())
	e := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: ev.App + "-", Namespace: ev.Namespace,
			Labels: map[string]string{apply.LabelApp: ev.App, apply.LabelEnv: ev.Env}},
		InvolvedObject: corev1.ObjectReference{APIVersion: "core.oam.dev/v1beta1", Kind: "Application", Name: ev.App, Namespace: ev.Namespace},
		Reason:         ev.Reason, Message: ev.Message, Type: ev.Type,
		Source:         corev1.EventSource{Component: k.Component, Host: k.Host},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: "carina.dev/agent", ReportingInstance: k.Host,
	}
	_, err := c.CoreV1().Events(ev.Namespace).Create(ctx, e, metav1.CreateOptions{})
	return err
}
