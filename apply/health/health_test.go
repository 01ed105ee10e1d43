package health

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func load(t testing.TB, name string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return u
}

func TestCompute(t *testing.T) {
	tests := []struct {
		file string
		want Result
	}{
		{"deployment-available.yaml", Result{Current, "Deployment is available with 3 replicas"}},
		{"deployment-progressing.yaml", Result{InProgress, "updated 1 of 3 replicas"}},
		{"deployment-old-replicas.yaml", Result{InProgress, "1 old replicas are pending termination"}},
		{"deployment-unavailable.yaml", Result{InProgress, "available 0 of 1 updated replicas"}},
		{"deployment-generation-pending.yaml", Result{InProgress, "Deployment generation 3 not observed yet (observed 2)"}},
		{"deployment-deadline-exceeded.yaml", Result{Failed, `progress deadline exceeded: ReplicaSet "web-5d4f" has timed out progressing.`}},
		{"deployment-paused.yaml", Result{Current, "Deployment is paused"}},
		{"deployment-terminating.yaml", Result{Terminating, "object is being deleted"}},
		{"statefulset-ready.yaml", Result{Current, "StatefulSet has 2 ready replicas"}},
		{"statefulset-rolling.yaml", Result{InProgress, "updated 1 of 2 replicas"}},
		{"statefulset-partition.yaml", Result{Current, "StatefulSet has 3 ready replicas"}},
		{"statefulset-not-ready.yaml", Result{InProgress, "ready 1 of 3 replicas"}},
		{"daemonset-available.yaml", Result{Current, "DaemonSet has 2 available pods"}},
		{"daemonset-updating.yaml", Result{InProgress, "updated 1 of 2 pods"}},
		{"replicaset-available.yaml", Result{Current, "ReplicaSet has 2 available replicas"}},
		{"replicaset-quota.yaml", Result{Failed, "replica failure: FailedCreate: exceeded quota"}},
		{"pod-ready.yaml", Result{Current, "pod is ready"}},
		{"pod-pending-unschedulable.yaml", Result{InProgress, "pod is not scheduled: Unschedulable: 0/1 nodes are available"}},
		{"pod-image-pull.yaml", Result{Failed, `pod web-1: container app: ImagePullBackOff: Back-off pulling image "nope:1"`}},
		{"pod-container-failed.yaml", Result{Failed, "pod web-1: container app terminated with exit code 1: containerFailed: container failed"}},
		{"pod-succeeded.yaml", Result{Current, "pod completed"}},
		{"job-complete.yaml", Result{Current, "job completed with 1 succeeded pods"}},
		{"job-failed.yaml", Result{Failed, "job failed: BackoffLimitExceeded: Job has reached the specified backoff limit"}},
		{"job-running.yaml", Result{InProgress, "job is running: 1 active, 0 succeeded, 0 failed pods"}},
		{"cronjob-scheduled.yaml", Result{Current, "last scheduled at 2026-01-01T03:00:00Z"}},
		{"service-clusterip.yaml", Result{Status: Current}},
		{"service-loadbalancer-pending.yaml", Result{InProgress, "waiting for a load balancer address"}},
		{"service-loadbalancer-ready.yaml", Result{Status: Current}},
		{"pvc-bound.yaml", Result{Current, "bound to pv-1"}},
		{"pvc-pending.yaml", Result{InProgress, "claim is Pending"}},
		{"pvc-lost.yaml", Result{Failed, "claim lost its volume pv-1"}},
		{"ingress-address.yaml", Result{Current, "addresses lb.example.com"}},
		{"ingress-no-address.yaml", Result{Current, "no address published"}},
		{"crd-established.yaml", Result{Current, "established"}},
		{"crd-names-rejected.yaml", Result{Failed, `names not accepted: ListKindConflict: "WidgetList" is already in use`}},
		{"crd-pending.yaml", Result{InProgress, "not established yet"}},
		{"namespace-active.yaml", Result{Status: Current}},
		{"namespace-terminating.yaml", Result{Terminating, "namespace is terminating"}},
		{"generic-ready.yaml", Result{Current, "ready"}},
		{"generic-not-ready.yaml", Result{InProgress, "not ready: Waiting: waiting for database"}},
		{"generic-stalled.yaml", Result{Failed, "stalled: InvalidSpec: size must be positive"}},
		{"generic-reconciling.yaml", Result{InProgress, "reconciling: Progressing: creating"}},
		{"generic-generation-pending.yaml", Result{InProgress, "Widget generation 5 not observed yet (observed 4)"}},
		{"generic-no-status.yaml", Result{Status: Current}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(strings.TrimSuffix(tt.file, ".yaml"), func(t *testing.T) {
			got, err := Compute(load(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Compute (-want +got):\n%s", diff)
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("fixture %s has no expectation", f)
		}
	}
}

func TestComputeNil(t *testing.T) {
	got, err := Compute(nil)
	if err != nil || got.Status != NotFound {
		t.Fatalf("Compute(nil) = %v, %v; want NotFound", got, err)
	}
}

func TestComputeMalformed(t *testing.T) {
	u := load(t, "deployment-available.yaml")
	u.Object["status"] = map[string]any{"replicas": "three"}
	got, err := Compute(u)
	if err == nil || got.Status != Unknown {
		t.Fatalf("Compute of a malformed Deployment = %v, %v; want Unknown and an error", got, err)
	}
}

func TestPodProblem(t *testing.T) {
	if got := PodProblem(load(t, "pod-ready.yaml")); got != "" {
		t.Errorf("PodProblem(ready pod) = %q, want none", got)
	}
	want := "pod web-1: container app terminated with exit code 1: containerFailed: container failed"
	if got := PodProblem(load(t, "pod-container-failed.yaml")); got != want {
		t.Errorf("PodProblem(failed pod) = %q, want %q", got, want)
	}
}

func TestWorst(t *testing.T) {
	tests := []struct{ a, b, want Status }{
		{Current, InProgress, InProgress},
		{Failed, InProgress, Failed},
		{Current, Current, Current},
		{Terminating, InProgress, Terminating},
		{NotFound, Current, NotFound},
	}
	for _, tt := range tests {
		if got := Worst(tt.a, tt.b); got != tt.want {
			t.Errorf("Worst(%s, %s) = %s, want %s", tt.a, tt.b, got, tt.want)
		}
	}
}
