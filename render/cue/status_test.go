package cue

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/carina-gitops/carina/capabilities"
)

func TestEvalStatus(t *testing.T) {
	reg := testRegistry(t)
	ws := get(t, reg, capabilities.KindComponent, "webservice")
	gw := get(t, reg, capabilities.KindTrait, "gateway")
	deploy := func(ready int64, withStatus bool) map[string]any {
		d := map[string]any{
			"metadata": map[string]any{"name": "web", "generation": int64(3)},
			"spec":     map[string]any{"replicas": int64(2)},
		}
		if withStatus {
			d["status"] = map[string]any{"readyReplicas": ready, "updatedReplicas": int64(2), "observedGeneration": int64(3)}
		}
		return d
	}
	ingress := map[string]any{"spec": map[string]any{"rules": []any{map[string]any{"host": "shop.example.com"}}}}
	tests := []struct {
		name    string
		status  capabilities.Status
		output  map[string]any
		outputs map[string]any
		want    Status
	}{
		{"ready", ws.Attributes.Status, deploy(2, true), nil, Status{HasPolicy: true, Healthy: true, Message: "Ready: 2"}},
		{"not all ready", ws.Attributes.Status, deploy(1, true), nil, Status{HasPolicy: true, Healthy: false, Message: "Ready: 1"}},
		{"no status yet", ws.Attributes.Status, deploy(0, false), nil, Status{HasPolicy: true, Healthy: false, Message: "Ready: 0"}},
		{"trait status from outputs", gw.Attributes.Status, deploy(2, true), map[string]any{"ingress": ingress}, Status{HasPolicy: true, Healthy: true, Message: "Visiting URL: shop.example.com"}},
		{"no policy", capabilities.Status{}, deploy(2, true), nil, Status{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EvalStatus(t.Context(), reg.Cache(), tt.status, testCtx, nil, tt.output, tt.outputs)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}
