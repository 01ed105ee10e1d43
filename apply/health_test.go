package apply

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/carina-gitops/carina/apply/health"
)

const replicasPolicy = `
_want: *1 | int
if context.output.spec.replicas != _|_ {_want: context.output.spec.replicas}
_ready: *0 | int
if context.output.status.readyReplicas != _|_ {_ready: context.output.status.readyReplicas}
isHealth: _ready >= _want
`

func TestWaitDeploymentAvailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	s := e.set(e.owner.Deployment(e.ns, "web", 2, nil), e.owner.Service(e.ns, "web"))
	s.Objects[0].Workload = true
	s.Objects[0].Health = health.Policy{HealthPolicy: replicasPolicy, CustomStatus: `message: "Ready: \(context.output.status.readyReplicas)"`}
	mustApply(t, m, s)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	rep, err := m.Wait(ctx, s)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	if rep.Status != health.Current || len(rep.Components) != 1 || rep.Components[0].Message != "Ready: 2" {
		t.Errorf("report = %+v, want Current with message Ready: 2", rep)
	}
	if got := e.readInventory(t, m).Health; got != string(health.Current) {
		t.Errorf("inventory health = %q, want Current", got)
	}
}

func TestWaitFailingPod(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := testManager(t)
	d := e.owner.Deployment(e.ns, "broken", 1, map[string]string{"pod-container-running-failed.stage.kwok.x-k8s.io": "true"})
	// Never available before the chaos stage fails the container.
	if err := setNested(d.Object, int64(30), "spec", "minReadySeconds"); err != nil {
		t.Fatal(err)
	}
	if err := setNested(d.Object, map[string]any{
		"pod-container-running-failed.stage.kwok.x-k8s.io/reason":  "ErrImagePull",
		"pod-container-running-failed.stage.kwok.x-k8s.io/message": "pull access denied for registry.example/app",
	}, "spec", "template", "metadata", "annotations"); err != nil {
		t.Fatal(err)
	}
	s := e.set(d)
	mustApply(t, m, s)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	rep, err := m.Wait(ctx, s)
	var he *HealthError
	if !errors.As(err, &he) {
		t.Fatalf("wait: %v, want a HealthError", err)
	}
	if rep.Status != health.Failed || len(he.Failed) != 1 {
		t.Fatalf("report %+v", rep)
	}
	msg := he.Failed[0].Message
	for _, want := range []string{"ErrImagePull", "pull access denied", "container app"} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure %q lacks %q", msg, want)
		}
	}
}

func setNested(obj map[string]any, v any, path ...string) error {
	m := obj
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
	return nil
}
