package drift

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/health"
)

// TestHealthChangeIsTold: once an applied Deployment is Current, a
// label someone adds tells nothing, and its status turning to a failed
// rollout tells OnHealth, without a finding (health is not drift).
// Bug: the agent read health only after an apply, so an env stayed
// Healthy (or Degraded) whatever became of its objects.
func TestHealthChangeIsTold(t *testing.T) {
	f := newFixture(t)
	s := f.set(f.deployment("web", 1), f.configMap("cfg", map[string]any{"a": "1"}))
	f.applyAndTrack(t, s)
	deploys := testClient.AppsV1().Deployments(f.ns)
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := deploys.Get(ctx, "web", metav1.GetOptions{})
		return err == nil && d.Status.AvailableReplicas == 1 && d.Status.ObservedGeneration == d.Generation, nil
	})
	if err != nil {
		t.Fatal("the Deployment never became available:", err)
	}
	settle(f, time.Second)

	patch := []byte(`{"metadata":{"labels":{"team":"shop"}}}`)
	if _, err := deploys.Patch(t.Context(), "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := testClient.CoreV1().ConfigMaps(f.ns).Patch(t.Context(), "cfg", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-f.health:
		t.Fatalf("OnHealth(%s) after a label change", got)
	case <-time.After(time.Second):
	}

	d, err := deploys.Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Status.Conditions = []appsv1.DeploymentCondition{{
		Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded",
		Message: "rollout stuck", LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now(),
	}}
	if _, err := deploys.UpdateStatus(t.Context(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-f.health:
		if want := f.app + "/" + f.env; got != want {
			t.Fatalf("OnHealth(%s), want %s", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no OnHealth within 10 s of the rollout failing")
	}
	f.quiet(t, 500*time.Millisecond) // a status change is no drift
}

// TestHealthMark: kstatus's verdict for objects without a health policy;
// for those with one, a mark that follows status and generation only.
func TestHealthMark(t *testing.T) {
	cm := &apply.Object{Obj: nil}
	live := (&fixture{ns: "ns", app: "a", env: "e"}).configMap("c", map[string]any{"a": "1"})
	if got := healthMark(cm, live); got != string(health.Current) {
		t.Errorf("ConfigMap mark = %q, want %q", got, health.Current)
	}
	withPolicy := &apply.Object{Health: health.Policy{HealthPolicy: "isHealth: true"}}
	a := healthMark(withPolicy, live)
	live.SetLabels(map[string]string{"x": "y"})
	if b := healthMark(withPolicy, live); b != a {
		t.Errorf("a label moved the mark: %q -> %q", a, b)
	}
	live.Object["status"] = map[string]any{"ready": true}
	if c := healthMark(withPolicy, live); c == a {
		t.Errorf("a status change left the mark at %q", c)
	}
}

// settle drains the OnHealth news of the rollout for d.
func settle(f *fixture, d time.Duration) {
	for {
		select {
		case <-f.health:
		case <-time.After(d):
			return
		}
	}
}
