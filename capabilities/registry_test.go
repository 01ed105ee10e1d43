package capabilities

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func testModules() []Module {
	return []Module{
		{Source: SourceCapability, Name: "platform", FS: os.DirFS("testdata"), Dir: "capability", Revision: "cap-rev"},
		{Source: SourceApp, FS: os.DirFS("testdata"), Dir: "app", Revision: "app-rev"},
	}
}

func TestRegistryPrecedence(t *testing.T) {
	reg, err := NewRegistry(t.Context(), DefaultOptions(), testModules()...)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		kind     Kind
		name     string
		origin   Origin
		shadowed []Source
	}{
		{KindComponent, "webservice", Origin{Source: SourceApp, File: "app/webservice.cue", Revision: "app-rev"}, []Source{SourceCapability, SourceBuiltin}},
		{KindComponent, "queue", Origin{Source: SourceCapability, Module: "platform", File: "platform/capability/queue.cue", Revision: "cap-rev"}, nil},
		{KindTrait, "team", Origin{Source: SourceApp, File: "app/traits/team.cue", Revision: "app-rev"}, nil},
		{KindComponent, "worker", Origin{Source: SourceBuiltin, File: "builtin/component/worker.cue", Revision: builtinRevision()}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := reg.Get(tt.kind, tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.origin, d.Origin); diff != "" {
				t.Errorf("origin (-want +got):\n%s", diff)
			}
			var got []Source
			for _, s := range reg.Shadowed(d) {
				got = append(got, s.Origin.Source)
			}
			if diff := cmp.Diff(tt.shadowed, got); diff != "" {
				t.Errorf("shadowed (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := reg.Get(KindTrait, "webservice"); !IsNotFound(err) {
		t.Errorf("Get(trait webservice) = %v, want not found (kinds have separate names)", err)
	}
}

func TestAttributes(t *testing.T) {
	reg, err := NewRegistry(t.Context(), DefaultOptions(), testModules()...)
	if err != nil {
		t.Fatal(err)
	}
	team, _ := reg.Get(KindTrait, "team")
	if team.Attributes.Stage != "PostDispatch" || !team.AppliesTo("anything", "") {
		t.Errorf("team attributes = %+v", team.Attributes)
	}
	queue, _ := reg.Get(KindComponent, "queue")
	if queue.WorkloadType() != "deployments.apps" || queue.Attributes.Status.HealthPolicy != "isHealth: true" {
		t.Errorf("queue attributes = %+v", queue.Attributes)
	}
	scaler, _ := reg.Get(KindTrait, "scaler")
	for _, tt := range []struct {
		comp, workload string
		want           bool
	}{{"webservice", "deployments.apps", true}, {"statefulset", "statefulsets.apps", true}, {"daemon", "daemonsets.apps", false}} {
		if got := scaler.AppliesTo(tt.comp, tt.workload); got != tt.want {
			t.Errorf("scaler applies to %s (%s) = %v, want %v", tt.comp, tt.workload, got, tt.want)
		}
	}
	if !scaler.ConflictsWith("hpa") || scaler.ConflictsWith("env") {
		t.Errorf("scaler conflicts = %v", scaler.Attributes.ConflictsWith)
	}
}

func TestResourceType(t *testing.T) {
	for _, tt := range []struct{ apiVersion, kind, want string }{
		{"apps/v1", "Deployment", "deployments.apps"},
		{"v1", "Service", "services"},
		{"networking.k8s.io/v1", "Ingress", "ingresses.networking.k8s.io"},
		{"v1", "Endpoints", "endpointses"},
		{"policy/v1", "PodDisruptionBudget", "poddisruptionbudgets.policy"},
		{"example.com/v1", "Policy", "policies.example.com"},
		{"example.com/v1", "Gateway", "gateways.example.com"},
	} {
		if got := ResourceType(tt.apiVersion, tt.kind); got != tt.want {
			t.Errorf("ResourceType(%s, %s) = %s, want %s", tt.apiVersion, tt.kind, got, tt.want)
		}
	}
}

func TestToolImportsAreRefused(t *testing.T) {
	reg, err := NewRegistry(t.Context(), DefaultOptions(), Module{Source: SourceApp, FS: os.DirFS("testdata"), Dir: "tool"})
	if err != nil {
		t.Fatalf("a definition that cannot be loaded failed the whole module: %v", err)
	}
	_, err = reg.Get(KindComponent, "runner")
	want := `component runner cannot be loaded (tool/exec.cue): tool/exec.cue:3:2: import "tool/exec" is not allowed: tool/* packages do I/O and are refused`
	var be *BrokenError
	if !errors.As(err, &be) || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
	if got := len(reg.Broken()); got != 1 {
		t.Errorf("Broken() has %d entries, want 1", got)
	}
}

// TestBrokenDefinitionFailsOnlyItsUsers: in a module with broken files
// (syntax, refused import, bad header, duplicate), the others load, and
// each broken one is reported under its kind and name with its reason.
func TestBrokenDefinitionFailsOnlyItsUsers(t *testing.T) {
	reg, err := NewRegistry(t.Context(), DefaultOptions(), Module{Source: SourceCapability, FS: os.DirFS("testdata"), Dir: "bad"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Get(KindPolicy, "fine"); err != nil {
		t.Errorf("Get(policy fine) = %v, want the definition", err)
	}
	for _, tt := range []struct {
		kind Kind
		name string
		want string
	}{
		{KindComponent, "broken", "component broken cannot be loaded (bad/a-syntax.cue): bad/a-syntax.cue:"},
		{KindTrait, "imported", `trait imported cannot be loaded (bad/c-import.cue): bad/c-import.cue:1:8: import "example.com/lib" is not allowed`},
		{KindComponent, "wrongtype", `definition wrongtype cannot be loaded (bad/b-type.cue): bad/b-type.cue:1:1: wrongtype: type "gadget" is not one of`},
	} {
		_, err := reg.Get(tt.kind, tt.name)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Get(%s %s) = %v, want prefix %q", tt.kind, tt.name, err, tt.want)
		}
	}
	var names []string
	for _, b := range reg.Broken() {
		names = append(names, b.String())
	}
	want := []string{"component broken", "definition wrongtype", "trait imported", "trait twice"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("Broken() (-want +got):\n%s", diff)
	}
}

func TestMissingModuleDir(t *testing.T) {
	fsys := os.DirFS("testdata")
	if _, err := NewRegistry(t.Context(), DefaultOptions(), Module{Source: SourceApp, FS: fsys, Dir: "nope"}); err == nil {
		t.Error("a missing module directory is not an error")
	}
	if _, err := NewRegistry(t.Context(), DefaultOptions(), Module{Source: SourceApp, FS: fsys, Dir: "nope", Optional: true}); err != nil {
		t.Errorf("a missing optional module: %v", err)
	}
	if _, err := NewRegistry(t.Context(), DefaultOptions(), Module{Source: SourceApp, FS: fsys, Dir: "../x"}); err == nil {
		t.Error("a module directory outside the root is not an error")
	}
}

func TestModuleLimits(t *testing.T) {
	opts := DefaultOptions()
	opts.Limits = Limits{MaxFiles: 1, MaxFileBytes: 1 << 20, MaxTotalBytes: 1 << 20}
	if _, err := NewRegistry(t.Context(), opts, testModules()[0]); err == nil || !strings.Contains(err.Error(), "more than 1 .cue files") {
		t.Errorf("MaxFiles: %v", err)
	}
	opts.Limits = Limits{MaxFiles: 10, MaxFileBytes: 100, MaxTotalBytes: 1 << 20}
	if _, err := NewRegistry(t.Context(), opts, testModules()[0]); err == nil || !strings.Contains(err.Error(), "larger than 100 bytes") {
		t.Errorf("MaxFileBytes: %v", err)
	}
}

func TestVetReportsEveryProblem(t *testing.T) {
	got := Vet(t.Context(), Module{Source: SourceCapability, FS: os.DirFS("testdata"), Dir: "bad", Name: "mod"}, DefaultOptions())
	want := Problems{
		{Pos: Position{File: "mod/bad/a-syntax.cue", Line: 4, Col: 13}, Msg: "expected '}', found 'EOF'"},
		{Pos: Position{File: "mod/bad/b-type.cue", Line: 1, Col: 1}, Msg: `wrongtype: type "gadget" is not one of "component", "trait", "policy", "workflow-step"`},
		{Pos: Position{File: "mod/bad/b-type.cue", Line: 1, Col: 1}, Msg: `wrongtype: attributes.stage "Later" is not one of "PreDispatch", "DefaultDispatch", "PostDispatch"`},
		{Pos: Position{File: "mod/bad/c-import.cue", Line: 1, Col: 8}, Msg: `import "example.com/lib" is not allowed: only the pure CUE standard library may be imported`},
		{Pos: Position{File: "mod/bad/d-conflict.cue", Line: 10, Col: 19}, Msg: "template.output.data.replicas: conflicting values 2 and 1"},
		{Pos: Position{File: "mod/bad/f-dup.cue", Line: 1, Col: 1}, Msg: "trait twice is defined twice in the module (first at mod/bad/e-dup.cue:1:1)"},
		{Pos: Position{File: "mod/bad/g-nooutput.cue", Line: 1, Col: 1}, Msg: "nooutput: a component template needs output or outputs (or attributes.engine)"},
		{Pos: Position{File: "mod/bad/h-ref.cue", Line: 6, Col: 64}, Msg: `template.output.metadata.name: reference "paramter" not found`},
		// The branch on context.output is not a problem: it resolves once
		// the live object is there.
		{Pos: Position{File: "mod/bad/j-status.cue", Line: 1, Col: 1}, Msg: `badstatus: attributes.status.healthPolicy does not compile: badstatus.healthPolicy:1:44: isHealth: reference "ready" not found`},
		{Pos: Position{File: "mod/bad/j-status.cue", Line: 1, Col: 1}, Msg: `badstatus: attributes.status.customStatus does not compile: badstatus.customStatus:1:16: message: conflicting values "b" and "a"`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Vet (-want +got):\n%s", diff)
	}
	if probs := Vet(t.Context(), testModules()[1], DefaultOptions()); len(probs) > 0 {
		t.Errorf("clean module has problems: %v", probs)
	}
}

func TestParameters(t *testing.T) {
	reg, err := NewRegistry(t.Context(), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := reg.Get(KindComponent, "webservice")
	params, err := ws.Parameters(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Param{}
	for _, p := range params {
		byName[p.Name] = p
	}
	strip := func(p Param) Param { p.Fields = nil; return p }
	tests := []Param{
		{Name: "image", Type: "string", Required: true, Description: "Container image to run, for example nginx:1.27"},
		{Name: "exposeType", Type: `"ClusterIP" | "NodePort" | "LoadBalancer"`, Default: `"ClusterIP"`, Description: "Type of the Service that publishes the exposed ports"},
		{Name: "cmd", Type: "[]string", Description: "Command to run in the container (replaces the image's entrypoint)"},
		{Name: "labels", Type: "map[string]string", Description: "Labels for the pods"},
		{Name: "ports", Type: "[]{...}", Description: "Ports the container listens on; those with expose true are published by a Service named after the component"},
	}
	for _, want := range tests {
		if diff := cmp.Diff(want, strip(byName[want.Name])); diff != "" {
			t.Errorf("%s (-want +got):\n%s", want.Name, diff)
		}
	}
	var port Param
	for _, f := range byName["ports"].Fields {
		if f.Name == "protocol" {
			port = f
		}
	}
	if want := (Param{Name: "protocol", Type: `"TCP" | "UDP" | "SCTP"`, Default: `"TCP"`, Description: "Protocol of the port"}); !cmp.Equal(want, port) {
		t.Errorf("ports.protocol = %+v, want %+v", port, want)
	}
}

func TestCacheCompilesOnce(t *testing.T) {
	cache := NewCache(DefaultCacheOptions())
	opts := DefaultOptions()
	opts.Cache = cache
	for i := range 3 {
		reg, err := NewRegistry(t.Context(), opts, testModules()...)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := reg.Get(KindComponent, "queue")
		if _, err := d.Template(); err != nil {
			t.Fatal(err)
		}
		if s := cache.Stats(); s.Misses != 1 || s.Hits != int64(i) {
			t.Errorf("after registry %d: stats %+v, want 1 miss and %d hits", i, s, i)
		}
	}
}

func TestUsesContext(t *testing.T) {
	reg, err := NewRegistry(t.Context(), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		kind            Kind
		name            string
		output, outputs bool
	}{
		{KindTrait, "scaler", false, false},
		{KindTrait, "hpa", true, false},
		{KindTrait, "env", true, false},
		{KindTrait, "sidecar", false, false},
		{KindComponent, "webservice", false, false},
	}
	for _, tt := range tests {
		d, _ := reg.Get(tt.kind, tt.name)
		if got := d.UsesContext("output"); got != tt.output {
			t.Errorf("%s uses context.output = %v, want %v", d, got, tt.output)
		}
		if got := d.UsesContext("outputs"); got != tt.outputs {
			t.Errorf("%s uses context.outputs = %v, want %v", d, got, tt.outputs)
		}
	}
}
