package kubevela

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	cuelang "cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/parser"
	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/carina-gitops/carina/apply/health"
	"github.com/carina-gitops/carina/capabilities"
)

// statusCase is one live state of what a definition rendered, and what
// KubeVela's status snippets say of it.
type statusCase struct {
	name string
	// output is the live workload (context.output), outputs the live
	// objects by output name (context.outputs), in YAML.
	output  string
	outputs map[string]string
	// parameter is the properties the definition was given.
	parameter map[string]any
	// healthy is the objects' own (kstatus) health, which customStatus
	// sees as context.status.healthy when there is no healthPolicy.
	healthy bool
	want    health.PolicyResult
}

const (
	deploymentFresh = `{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, generation: 1}, spec: {replicas: 2}}`
	deploymentReady = `{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, generation: 3}, spec: {replicas: 2},
  status: {replicas: 2, readyReplicas: 2, updatedReplicas: 2, observedGeneration: 3}}`
	deploymentRolling = `{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, generation: 3}, spec: {replicas: 2},
  status: {replicas: 3, readyReplicas: 2, updatedReplicas: 1, observedGeneration: 3}}`
	deploymentUnchecked = `{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, generation: 1, annotations: {app.oam.dev/disable-health-check: "true"}}, spec: {replicas: 2}}`
	ingressFresh        = `{apiVersion: networking.k8s.io/v1, kind: Ingress, metadata: {name: web}, status: {loadBalancer: {}},
  spec: {rules: [{host: web.example.com, http: {paths: [{path: /, pathType: ImplementationSpecific, backend: {service: {name: web, port: {number: 80}}}}]}}]}}`
	ingressAddressed = `{apiVersion: networking.k8s.io/v1, kind: Ingress, metadata: {name: web},
  spec: {rules: [{host: web.example.com}]}, status: {loadBalancer: {ingress: [{ip: 10.1.2.3}]}}}`
)

// statusCases are, for every KubeVela definition with status snippets,
// live states a cluster shows: just created, settled, and the cases its
// snippets branch on. The wanted results are KubeVela's reading of its
// own snippets (pkg/cue/definition/health): parameter is the properties
// ({} without any), customStatus sees context.status.healthy, and a
// customStatus that fails gives no message. They were checked against
// KubeVela's CUE (v0.14); one differs there: gateway's customStatus
// without a name parameter fails to compile on v0.14 ("incomplete
// argument list"), so KubeVela shows no message where Carina shows the
// URL.
var statusCases = map[string][]statusCase{
	"component webservice": {
		{name: "created", output: deploymentFresh, want: health.PolicyResult{HasHealth: true, Message: "Ready:0/2"}},
		{name: "rolling", output: deploymentRolling, want: health.PolicyResult{HasHealth: true, Message: "Ready:2/2"}},
		{name: "ready", output: deploymentReady, want: health.PolicyResult{HasHealth: true, Healthy: true, Message: "Ready:2/2"}},
		{name: "health check disabled", output: deploymentUnchecked, want: health.PolicyResult{HasHealth: true, Healthy: true, Message: "Ready:0/2"}},
	},
	"component worker": {
		{name: "created", output: deploymentFresh, want: health.PolicyResult{HasHealth: true, Message: "Ready:0/2"}},
		{name: "ready", output: deploymentReady, want: health.PolicyResult{HasHealth: true, Healthy: true, Message: "Ready:2/2"}},
	},
	"component statefulset": {
		{name: "created", output: strings.Replace(deploymentFresh, "Deployment", "StatefulSet", 1), want: health.PolicyResult{HasHealth: true, Message: "Ready:0/2"}},
		{name: "ready", output: strings.Replace(deploymentReady, "Deployment", "StatefulSet", 1), want: health.PolicyResult{HasHealth: true, Healthy: true, Message: "Ready:2/2"}},
		{name: "health check disabled", output: strings.Replace(deploymentUnchecked, "Deployment", "StatefulSet", 1), want: health.PolicyResult{HasHealth: true, Healthy: true, Message: "Ready:0/2"}},
	},
	"component daemon": {
		{name: "created", output: `{apiVersion: apps/v1, kind: DaemonSet, metadata: {name: agent, generation: 1}, spec: {}}`,
			want: health.PolicyResult{HasHealth: true, Message: "Ready:0/0"}},
		{name: "scheduling", output: `{apiVersion: apps/v1, kind: DaemonSet, metadata: {name: agent, generation: 2}, spec: {},
  status: {desiredNumberScheduled: 3, currentNumberScheduled: 3, updatedNumberScheduled: 3, numberReady: 1, observedGeneration: 2}}`,
			want: health.PolicyResult{HasHealth: true, Message: "Ready:1/3"}},
		{name: "ready", output: `{apiVersion: apps/v1, kind: DaemonSet, metadata: {name: agent, generation: 2}, spec: {},
  status: {desiredNumberScheduled: 3, currentNumberScheduled: 3, updatedNumberScheduled: 3, numberReady: 3, observedGeneration: 2}}`,
			want: health.PolicyResult{HasHealth: true, Healthy: true, Message: "Ready:3/3"}},
	},
	"component task": {
		{name: "created", output: `{apiVersion: batch/v1, kind: Job, metadata: {name: migrate}, spec: {parallelism: 1, completions: 1}}`,
			want: health.PolicyResult{HasHealth: true, Message: "Active/Failed/Succeeded:0/0/0"}},
		{name: "running", output: `{apiVersion: batch/v1, kind: Job, metadata: {name: migrate}, spec: {parallelism: 1}, status: {active: 1}}`,
			want: health.PolicyResult{HasHealth: true, Message: "Active/Failed/Succeeded:1/0/0"}},
		{name: "succeeded", output: `{apiVersion: batch/v1, kind: Job, metadata: {name: migrate}, spec: {parallelism: 1}, status: {succeeded: 1}}`,
			want: health.PolicyResult{HasHealth: true, Healthy: true, Message: "Active/Failed/Succeeded:0/0/1"}},
	},
	"component ref-objects": {
		{name: "deployment created", output: deploymentFresh, want: health.PolicyResult{HasHealth: true, Message: "Ready:0/2"}},
		{name: "deployment ready", output: deploymentReady, want: health.PolicyResult{HasHealth: true, Healthy: true, Message: "Ready:2/2"}},
		{name: "other kind", output: `{apiVersion: v1, kind: ConfigMap, metadata: {name: settings}}`,
			want: health.PolicyResult{HasHealth: true, Healthy: true}},
	},
	"component helmchart": {
		{name: "no criteria", healthy: false, want: health.PolicyResult{HasHealth: true, Healthy: true, Message: "Deployed"}},
		{name: "condition missing", parameter: map[string]any{"healthStatus": []any{map[string]any{
			"resource": map[string]any{"kind": "Certificate", "name": "tls"}, "condition": map[string]any{"type": "Ready"}}}},
			outputs: map[string]string{"cert": `{apiVersion: cert-manager.io/v1, kind: Certificate, metadata: {name: tls}, status: {conditions: [{type: Ready, status: "False"}]}}`},
			want:    health.PolicyResult{HasHealth: true, Message: "Deploying"}},
		{name: "condition met", parameter: map[string]any{"healthStatus": []any{map[string]any{
			"resource": map[string]any{"kind": "Certificate", "name": "tls"}, "condition": map[string]any{"type": "Ready"}}}},
			outputs: map[string]string{"cert": `{apiVersion: cert-manager.io/v1, kind: Certificate, metadata: {name: tls}, status: {conditions: [{type: Ready, status: "True"}]}}`},
			want:    health.PolicyResult{HasHealth: true, Healthy: true, Message: "Deployed"}},
	},
	"trait expose": {
		{name: "cluster IP", outputs: map[string]string{"service": `{apiVersion: v1, kind: Service, metadata: {name: web}, spec: {type: ClusterIP, clusterIP: 10.96.0.7}}`},
			want: health.PolicyResult{HasHealth: true, Healthy: true, Message: "ClusterIP: 10.96.0.7"}},
		{name: "load balancer pending", outputs: map[string]string{"service": `{apiVersion: v1, kind: Service, metadata: {name: web}, spec: {type: LoadBalancer, clusterIP: 10.96.0.7}, status: {loadBalancer: {}}}`},
			// Two defaults for message ("" and "ExternalIP: Pending") leave it
			// non-concrete: no message, in KubeVela too.
			want: health.PolicyResult{HasHealth: true}},
		{name: "load balancer ready", outputs: map[string]string{"service": `{apiVersion: v1, kind: Service, metadata: {name: web}, spec: {type: LoadBalancer, clusterIP: 10.96.0.7}, status: {loadBalancer: {ingress: [{ip: 203.0.113.9}]}}}`},
			want: health.PolicyResult{HasHealth: true, Healthy: true, Message: "ExternalIP: 203.0.113.9"}},
	},
	"trait gateway": {
		{name: "ingress", outputs: map[string]string{"ingress": ingressFresh},
			want: health.PolicyResult{HasHealth: true, Healthy: true, Message: "Visiting URL: web.example.com\n"}},
		{name: "named ingress", parameter: map[string]any{"name": "api"},
			outputs: map[string]string{"ingress-api": strings.Replace(ingressFresh, "name: web}", "name: web-api}", 1)},
			want:    health.PolicyResult{HasHealth: true, Healthy: true, Message: "Visiting URL: web.example.com\n"}},
		{name: "named ingress missing", parameter: map[string]any{"name": "api"},
			outputs: map[string]string{"ingress": ingressFresh},
			want:    health.PolicyResult{HasHealth: true, Message: "Host not specified, visit the cluster or load balancer in front of the cluster\n"}},
	},
	"trait pure-ingress": {
		// len() of the missing status.loadBalancer.ingress fails the
		// snippet: no message, in KubeVela too.
		{name: "no address", outputs: map[string]string{"ingress": ingressFresh}, healthy: true,
			want: health.PolicyResult{}},
		{name: "address", outputs: map[string]string{"ingress": ingressAddressed}, healthy: true,
			want: health.PolicyResult{Message: "Visiting URL: web.example.com, IP: 10.1.2.3"}},
	},
}

// TestKubeVelaStatusSnippets loads every definition of KubeVela's folder
// and evaluates the status snippets (healthPolicy, customStatus) of each
// that has them with the apply engine's evaluator, the one the agent and
// `carina apply` use, against the live states of statusCases. A
// definition that cannot be loaded (it imports vela/*) has its snippets
// read from its file's header and evaluated all the same: they are not
// why it cannot load. Every definition with snippets must have cases, so
// that a new one in KubeVela's folder is not skipped silently.
func TestKubeVelaStatusSnippets(t *testing.T) {
	reg := corpusRegistry(t, false, kubevelaDefinitions)
	snippets := map[string]capabilities.Status{}
	for _, d := range reg.List() {
		if d.Origin.Module == filepath.ToSlash(kubevelaDefinitions) && !d.Attributes.Status.IsZero() {
			snippets[d.String()] = d.Attributes.Status
		}
	}
	loaded := len(snippets)
	for _, b := range reg.Broken() {
		if st := headerStatus(t, b.Origin.File); !st.IsZero() {
			snippets[b.String()] = st
		}
	}
	if loaded < 9 || len(snippets) < 10 {
		t.Fatalf("%d definitions with status snippets (%d loadable); KubeVela's folder has 10, 9 of them loadable", len(snippets), loaded)
	}
	for _, name := range slices.Sorted(maps.Keys(snippets)) {
		st := snippets[name]
		cases, ok := statusCases[name]
		if !ok {
			t.Errorf("%s has status snippets but no cases in statusCases", name)
			continue
		}
		if st.Details != "" {
			t.Errorf("%s has a status.details snippet, which Carina does not evaluate", name)
		}
		for _, c := range cases {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				p := health.Policy{HealthPolicy: st.HealthPolicy, CustomStatus: st.CustomStatus, Parameter: c.parameter}
				pc := health.PolicyContext{Output: liveObject(t, c.output), Outputs: map[string]map[string]any{},
					Name: "web", AppName: "shop", Namespace: "shop", Healthy: c.healthy}
				for k, v := range c.outputs {
					pc.Outputs[k] = liveObject(t, v)
				}
				got, err := p.Evaluate(t.Context(), pc)
				if err != nil {
					t.Fatalf("evaluate: %v", err)
				}
				if diff := cmp.Diff(c.want, got); diff != "" {
					t.Errorf("(-want +got)\n%s", diff)
				}
			})
		}
	}
	for name := range statusCases {
		if _, ok := snippets[name]; !ok {
			t.Errorf("statusCases has %s, which has no status snippets in KubeVela's folder", name)
		}
	}
}

// liveObject reads a YAML object; "" is no object.
func liveObject(t *testing.T, s string) map[string]any {
	t.Helper()
	if s == "" {
		return nil
	}
	var m map[string]any
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return m
}

// headerStatus reads attributes.status of a definition file's header
// without its imports and template (for a definition Carina cannot load).
func headerStatus(t *testing.T, file string) capabilities.Status {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(file, src)
	if err != nil {
		t.Fatal(err)
	}
	var header *ast.Field
	for _, d := range f.Decls {
		if field, ok := d.(*ast.Field); ok {
			if name, _, _ := ast.LabelName(field.Label); name != "template" {
				header = field
			}
		}
	}
	if header == nil {
		t.Fatalf("%s: no header", file)
	}
	v := cuecontext.New().BuildFile(&ast.File{Decls: []ast.Decl{header}})
	var st capabilities.Status
	name, _, _ := ast.LabelName(header.Label)
	sv := v.LookupPath(cuelang.MakePath(cuelang.Str(name), cuelang.Str("attributes"), cuelang.Str("status")))
	if !sv.Exists() {
		return st
	}
	if err := sv.Decode(&st); err != nil {
		t.Fatalf("%s: attributes.status: %v", file, err)
	}
	return st
}
