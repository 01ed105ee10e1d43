package apply

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func parseObj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	return u
}

// liveDeployment is a live Deployment as the API server returns it after
// carina applied desiredDeployment: defaults filled in, the port's key
// defaulted with protocol TCP, the selector atomic.
const liveDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app.carina.dev/name: shop}
  managedFields:
  - manager: carina
    operation: Apply
    apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1: {"f:metadata":{"f:labels":{"f:app.carina.dev/name":{}}},"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:args":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":8080,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}},"f:tolerations":{}}}}}
  - manager: hpa
    operation: Update
    apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1: {"f:metadata":{"f:annotations":{"f:note":{}}}}
spec:
  replicas: 2
  progressDeadlineSeconds: 600
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: app:1
        args: [--a, --b]
        imagePullPolicy: IfNotPresent
        ports: [{containerPort: 8080, protocol: TCP}]
      - name: injected
        image: sidecar:1
      tolerations: [{key: k, operator: Exists}]
status: {replicas: 2}
`

const desiredDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app.carina.dev/name: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: app:1
        args: [--a, --b]
        ports: [{containerPort: 8080}]
      tolerations: [{key: k, operator: Exists}]
`

func TestProvablyUnchanged(t *testing.T) {
	tests := []struct {
		name   string
		change func(d, l map[string]any)
		want   bool
	}{
		{"same", func(d, l map[string]any) {}, true},
		{"replicas float from a decoder", func(d, l map[string]any) { spec(d)["replicas"] = float64(2) }, true},
		{"value differs", func(d, l map[string]any) { spec(d)["replicas"] = int64(3) }, false},
		{"field added", func(d, l map[string]any) { spec(d)["paused"] = true }, false},
		{"owned field dropped", func(d, l map[string]any) { delete(spec(d), "replicas") }, false},
		{"atomic map differs", func(d, l map[string]any) {
			spec(d)["selector"] = map[string]any{"matchLabels": map[string]any{"app": "other"}}
		}, false},
		{"atomic list differs", func(d, l map[string]any) { container(d)["args"] = []any{"--b", "--a"} }, false},
		{"keyed item added", func(d, l map[string]any) {
			podSpec(d)["containers"] = append(podSpec(d)["containers"].([]any), map[string]any{"name": "x", "image": "x"})
		}, false},
		{"image changed", func(d, l map[string]any) { container(d)["image"] = "app:2" }, false},
		{"live drifted", func(d, l map[string]any) { container(l)["image"] = "app:0" }, false},
		{"protocol set explicitly", func(d, l map[string]any) {
			container(d)["ports"] = []any{map[string]any{"containerPort": int64(8080), "protocol": "TCP"}}
		}, false},
		{"port key changed by someone", func(d, l map[string]any) {
			container(l)["ports"] = []any{map[string]any{"containerPort": int64(8080), "protocol": "UDP"}}
		}, false},
		{"null value", func(d, l map[string]any) { spec(d)["paused"] = nil }, false},
		{"explicit empty map", func(d, l map[string]any) { spec(d)["strategy"] = map[string]any{} }, false},
		{"other apiVersion", func(d, l map[string]any) { d["apiVersion"] = "apps/v1beta2" }, false},
		{"manager entry missing", func(d, l map[string]any) {
			l["metadata"].(map[string]any)["managedFields"] = []any{}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, l := parseObj(t, desiredDeployment), parseObj(t, liveDeployment)
			tt.change(d.Object, l.Object)
			if got := provablyUnchanged(d, l, FieldManager); got != tt.want {
				t.Errorf("provablyUnchanged = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestProvablyUnchangedSet(t *testing.T) {
	live := parseObj(t, `
apiVersion: v1
kind: ConfigMap
metadata:
  name: x
  finalizers: [a.example/x, b.example/y]
  managedFields:
  - {manager: carina, operation: Apply, apiVersion: v1, fieldsType: FieldsV1, fieldsV1: {"f:metadata":{"f:finalizers":{"v:\"a.example/x\"":{},"v:\"b.example/y\"":{}}}}}
`)
	same := parseObj(t, "{apiVersion: v1, kind: ConfigMap, metadata: {name: x, finalizers: [a.example/x, b.example/y]}}")
	fewer := parseObj(t, "{apiVersion: v1, kind: ConfigMap, metadata: {name: x, finalizers: [a.example/x]}}")
	if !provablyUnchanged(same, live, FieldManager) {
		t.Error("same set: want unchanged")
	}
	if provablyUnchanged(fewer, live, FieldManager) {
		t.Error("an item less: want changed")
	}
}

func spec(o map[string]any) map[string]any { return o["spec"].(map[string]any) }

func podSpec(o map[string]any) map[string]any {
	return spec(o)["template"].(map[string]any)["spec"].(map[string]any)
}

func container(o map[string]any) map[string]any {
	return podSpec(o)["containers"].([]any)[0].(map[string]any)
}

func TestApplyOncePaths(t *testing.T) {
	tests := []struct {
		path    string
		want    any
		wantErr bool
	}{
		{"spec.replicas", int64(5), false},
		{"spec.template.spec.containers[0].image", "live:1", false},
		{"spec.missing", nil, false},
		{"spec.template.spec.containers[x]", nil, true},
		{".spec", nil, true},
	}
	live := parseObj(t, "{apiVersion: apps/v1, kind: Deployment, metadata: {name: w}, spec: {replicas: 5, template: {spec: {containers: [{name: a, image: 'live:1'}]}}}}")
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			desired := parseObj(t, "{apiVersion: apps/v1, kind: Deployment, metadata: {name: w}, spec: {replicas: 1, template: {spec: {containers: [{name: a, image: 'new:2'}]}}}}")
			out, err := keepLive(desired, live, []string{tt.path})
			if (err != nil) != tt.wantErr {
				t.Fatalf("keepLive error = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			steps, _ := parsePath(tt.path)
			got, _ := lookupPath(out.Object, steps)
			if tt.want != nil && got != tt.want {
				t.Errorf("%s = %v, want %v", tt.path, got, tt.want)
			}
			if r, _ := lookupPath(desired.Object, []pathStep{{key: "spec", index: -1}, {key: "replicas", index: -1}}); r != int64(1) {
				t.Error("keepLive modified its input")
			}
		})
	}
}
