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
		{"deployment-available.yaml", Result{Current, "Deployment is available. Replicas: 3"}},
		{"deployment-progressing.yaml", Result{InProgress, "Updated: 1/3"}},
		{"deployment-old-replicas.yaml", Result{InProgress, "Pending termination: 1"}},
		{"deployment-unavailable.yaml", Result{InProgress, "Available: 0/1"}},
		{"deployment-available-false.yaml", Result{InProgress, "Deployment not Available"}},
		{"deployment-replicaset-updating.yaml", Result{InProgress, "ReplicaSet not Available"}},
		{"deployment-generation-pending.yaml", Result{InProgress, "Deployment generation is 3, but latest observed generation is 2"}},
		{"deployment-deadline-exceeded.yaml", Result{Failed, `Progress deadline exceeded: ReplicaSet "web-5d4f" has timed out progressing.`}},
		{"deployment-paused.yaml", Result{Current, "Deployment is paused"}},
		{"deployment-paused-generation-pending.yaml", Result{InProgress, "Deployment generation is 4, but latest observed generation is 3"}},
		{"deployment-terminating.yaml", Result{Terminating, "Resource scheduled for deletion"}},
		{"statefulset-ready.yaml", Result{Current, "Partition rollout complete. updated: 2"}},
		{"statefulset-rolling.yaml", Result{InProgress, "updated: 1/2"}},
		{"statefulset-partition.yaml", Result{Current, "Partition rollout complete. updated: 1"}},
		{"statefulset-not-ready.yaml", Result{InProgress, "Ready: 1/3"}},
		{"statefulset-scaling-down.yaml", Result{InProgress, "Pending termination: 1"}},
		{"statefulset-ondelete-not-ready.yaml", Result{InProgress, "ready 1 of 3 replicas (OnDelete updates)"}},
		{"statefulset-ondelete-ready.yaml", Result{Current, "StatefulSet is using the ondelete update strategy"}},
		{"daemonset-available.yaml", Result{Current, "All replicas scheduled as expected. Replicas: 2"}},
		{"daemonset-updating.yaml", Result{InProgress, "Updated: 1/2"}},
		{"daemonset-not-ready.yaml", Result{InProgress, "Ready: 1/2"}},
		{"daemonset-no-observed-generation.yaml", Result{InProgress, "DaemonSet status.observedGeneration not found"}},
		{"replicaset-available.yaml", Result{Current, "ReplicaSet is available. Replicas: 2"}},
		{"replicaset-quota.yaml", Result{Failed, "replica failure: FailedCreate: exceeded quota"}},
		{"pod-ready.yaml", Result{Current, "Pod is Ready"}},
		{"pod-pending.yaml", Result{InProgress, "Pod is in the Pending phase"}},
		{"pod-running-not-ready.yaml", Result{InProgress, "Pod is running but is not Ready"}},
		{"pod-pending-unschedulable.yaml", Result{InProgress, "pod is not scheduled: Unschedulable: 0/1 nodes are available"}},
		{"pod-image-pull.yaml", Result{Failed, `pod web-1: container app: ImagePullBackOff: Back-off pulling image "nope:1"`}},
		{"pod-crashloop.yaml", Result{Failed, "pod web-1: container app: CrashLoopBackOff: back-off 2m40s restarting failed container=app"}},
		{"pod-container-failed.yaml", Result{Failed, "pod web-1: container app terminated with exit code 1: containerFailed: container failed"}},
		{"pod-evicted.yaml", Result{Failed, "pod web-1 failed: Evicted: The node was low on resource: memory."}},
		{"pod-succeeded.yaml", Result{Current, "Pod has completed successfully"}},
		{"job-complete.yaml", Result{Current, "Job Completed. succeeded: 1/1"}},
		{"job-failed.yaml", Result{Failed, "job failed: BackoffLimitExceeded: Job has reached the specified backoff limit"}},
		{"job-running.yaml", Result{InProgress, "job is running: 1 active, 0 succeeded, 0 failed pods"}},
		{"job-not-started.yaml", Result{InProgress, "Job not started"}},
		{"job-suspended.yaml", Result{Current, "job is suspended"}},
		{"cronjob-scheduled.yaml", Result{Current, "Resource is always ready"}},
		{"service-clusterip.yaml", Result{Current, "Service is ready"}},
		{"service-loadbalancer-pending.yaml", Result{InProgress, "waiting for a load balancer address"}},
		{"service-loadbalancer-ready.yaml", Result{Current, "Service is ready"}},
		{"pvc-bound.yaml", Result{Current, "PVC is Bound"}},
		{"pvc-pending.yaml", Result{InProgress, "PVC is not Bound. phase: Pending"}},
		{"pvc-lost.yaml", Result{Failed, "claim lost its volume pv-1"}},
		{"pdb-computed.yaml", Result{Current, "AllowedDisruptions has been computed."}},
		{"pdb-generation-pending.yaml", Result{InProgress, "PodDisruptionBudget generation is 2, but latest observed generation is 1"}},
		{"ingress-address.yaml", Result{Current, "addresses lb.example.com"}},
		{"ingress-no-address.yaml", Result{Current, "no address published"}},
		{"crd-established.yaml", Result{Current, "CRD is established"}},
		{"crd-names-rejected.yaml", Result{Failed, `"WidgetList" is already in use`}},
		{"crd-installing.yaml", Result{InProgress, "Install in progress"}},
		{"crd-pending.yaml", Result{InProgress, "Install in progress"}},
		{"namespace-active.yaml", Result{Current, "Resource is current"}},
		{"namespace-terminating.yaml", Result{Terminating, "Resource scheduled for deletion"}},
		{"generic-ready.yaml", Result{Current, "Resource is Ready"}},
		{"generic-not-ready.yaml", Result{InProgress, "waiting for database"}},
		{"generic-ready-unknown.yaml", Result{InProgress, "reconciliation in progress"}},
		{"generic-stalled.yaml", Result{Failed, "size must be positive"}},
		{"generic-stalled-no-message.yaml", Result{Failed, "InvalidSpec"}},
		{"generic-stalled-not-ready.yaml", Result{Failed, "size must be positive"}},
		{"generic-reconciling.yaml", Result{InProgress, "creating"}},
		{"generic-reconciling-ready.yaml", Result{InProgress, "upgrading to 1.2"}},
		{"generic-generation-pending.yaml", Result{InProgress, "Widget generation is 5, but latest observed generation is 4"}},
		{"generic-no-conditions.yaml", Result{Current, "Resource is current"}},
		{"generic-no-status.yaml", Result{Current, "Resource is always ready"}},
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

// TestComputeUnknown: what kstatus or an own rule cannot read is Unknown,
// with an error that names the object.
func TestComputeUnknown(t *testing.T) {
	tests := []struct {
		name, file string
		set        func(obj map[string]any)
	}{
		{"conditions not a list", "deployment-available.yaml", func(obj map[string]any) {
			obj["status"] = map[string]any{"conditions": "three"}
		}},
		{"observedGeneration not a number", "generic-ready.yaml", func(obj map[string]any) {
			obj["status"].(map[string]any)["observedGeneration"] = "4"
		}},
		{"own rule cannot decode", "service-loadbalancer-pending.yaml", func(obj map[string]any) {
			obj["spec"] = map[string]any{"type": int64(3)}
		}},
		{"pod phase Unknown", "pod-ready.yaml", func(obj map[string]any) {
			obj["status"].(map[string]any)["phase"] = "Unknown"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := load(t, tt.file)
			tt.set(u.Object)
			got, err := Compute(u)
			if err == nil || got.Status != Unknown || !strings.Contains(err.Error(), u.GetKind()+"/"+u.GetName()) {
				t.Fatalf("Compute = %v, %v; want Unknown and an error naming %s/%s", got, err, u.GetKind(), u.GetName())
			}
		})
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
