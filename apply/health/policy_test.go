package health

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// webservicePolicy is the shape of the built-in webservice health policy.
const webservicePolicy = `
_want: *1 | int
if context.output.spec.replicas != _|_ {
	_want: context.output.spec.replicas
}
_st: {
	readyReplicas: *0 | int
	if context.output.status.readyReplicas != _|_ {readyReplicas: context.output.status.readyReplicas}
}
isHealth: _st.readyReplicas >= _want
`

const readyStatus = `
import "strconv"
_ready: *0 | int
if context.output.status.readyReplicas != _|_ {_ready: context.output.status.readyReplicas}
message: "Ready: " + strconv.FormatInt(_ready, 10) + " of " + context.outputs.svc.spec.type
`

func TestPolicyEvaluate(t *testing.T) {
	available := load(t, "deployment-available.yaml").Object
	progressing := load(t, "deployment-unavailable.yaml").Object
	svc := load(t, "service-clusterip.yaml").Object
	tests := []struct {
		name    string
		policy  Policy
		output  map[string]any
		want    PolicyResult
		wantErr string
	}{
		{"healthy", Policy{HealthPolicy: webservicePolicy}, available, PolicyResult{HasHealth: true, Healthy: true}, ""},
		{"unhealthy", Policy{HealthPolicy: webservicePolicy}, progressing, PolicyResult{HasHealth: true}, ""},
		{"custom status with outputs and import", Policy{CustomStatus: readyStatus}, available, PolicyResult{Message: "Ready: 3 of ClusterIP"}, ""},
		{"both", Policy{HealthPolicy: "isHealth: context.name == \"web\"", CustomStatus: `message: "app " + context.appName`}, available, PolicyResult{HasHealth: true, Healthy: true, Message: "app shop"}, ""},
		{"parameter", Policy{HealthPolicy: "isHealth: context.name == parameter.name", Parameter: map[string]any{"name": "web"}}, available, PolicyResult{HasHealth: true, Healthy: true}, ""},
		{"no parameter is {}", Policy{HealthPolicy: "isHealth: parameter.name == _|_"}, available, PolicyResult{HasHealth: true, Healthy: true}, ""},
		{"custom status sees the health policy", Policy{HealthPolicy: "isHealth: false", CustomStatus: `message: "healthy: \(context.status.healthy)"`}, available, PolicyResult{HasHealth: true, Message: "healthy: false"}, ""},
		{"custom status that fails says nothing", Policy{HealthPolicy: "isHealth: true", CustomStatus: "message: context.output.nope"}, available, PolicyResult{HasHealth: true, Healthy: true}, ""},
		{"custom status without a message", Policy{CustomStatus: `message: *"" | string` + "\n" + `message: *"x" | string`}, available, PolicyResult{}, ""},
		{"no isHealth", Policy{HealthPolicy: "x: 1"}, available, PolicyResult{}, "does not set isHealth"},
		{"isHealth not a bool", Policy{HealthPolicy: "isHealth: 1"}, available, PolicyResult{}, "isHealth"},
		{"incomplete", Policy{HealthPolicy: "isHealth: context.output.status.nope"}, available, PolicyResult{}, "healthPolicy"},
		{"syntax error", Policy{HealthPolicy: "isHealth: {"}, available, PolicyResult{}, "healthPolicy"},
		{"tool import", Policy{HealthPolicy: "import \"tool/exec\"\nisHealth: true"}, available, PolicyResult{}, `import "tool/exec" is not allowed`},
		{"foreign import", Policy{HealthPolicy: "import \"example.com/x\"\nisHealth: true"}, available, PolicyResult{}, `import "example.com/x" is not allowed`},
		{"too large", Policy{HealthPolicy: "isHealth: true\n" + strings.Repeat("// padding\n", MaxPolicyBytes/11+1)}, available, PolicyResult{}, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := PolicyContext{Output: tt.output, Outputs: map[string]map[string]any{"svc": svc}, Name: "web", AppName: "shop", Namespace: "shop"}
			got, err := tt.policy.Evaluate(t.Context(), c)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrPolicy) {
					t.Fatalf("Evaluate error = %v, want ErrPolicy containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Evaluate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPolicyEvaluateContextDone(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	p := Policy{HealthPolicy: "isHealth: true"}
	if _, err := p.Evaluate(ctx, PolicyContext{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Evaluate after the deadline = %v, want DeadlineExceeded", err)
	}
}

// TestPolicyCustomStatusSeesObjectHealth: without a healthPolicy,
// customStatus's context.status.healthy is the objects' own health.
func TestPolicyCustomStatusSeesObjectHealth(t *testing.T) {
	p := Policy{CustomStatus: `message: "healthy: \(context.status.healthy)"`}
	for _, healthy := range []bool{true, false} {
		got, err := p.Evaluate(t.Context(), PolicyContext{Healthy: healthy})
		if err != nil {
			t.Fatal(err)
		}
		want := PolicyResult{Message: fmt.Sprintf("healthy: %v", healthy)}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("healthy %v (-want +got):\n%s", healthy, diff)
		}
	}
}
