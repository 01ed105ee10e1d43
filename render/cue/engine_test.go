package cue

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/carina-gitops/carina/capabilities"
)

func testRegistry(t testing.TB) *capabilities.Registry {
	t.Helper()
	reg, err := capabilities.NewRegistry(t.Context(), capabilities.DefaultOptions(),
		capabilities.Module{Source: capabilities.SourceApp, FS: os.DirFS("testdata"), Dir: "defs", Name: "testdata"})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func get(t testing.TB, reg *capabilities.Registry, kind capabilities.Kind, name string) *capabilities.Definition {
	t.Helper()
	d, err := reg.Get(kind, name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var testCtx = Context{Name: "web", AppName: "shop", Namespace: "prod", ComponentType: "base"}

type traitUse struct {
	name  string
	props map[string]any
}

func renderBase(t *testing.T, reg *capabilities.Registry, traits ...traitUse) (*Workload, error) {
	t.Helper()
	w, err := Component(t.Context(), get(t, reg, capabilities.KindComponent, "base"), map[string]any{"image": "nginx"}, testCtx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range traits {
		if err := Trait(t.Context(), get(t, reg, capabilities.KindTrait, tr.name), tr.props, testCtx, w); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func envOf(t *testing.T, w *Workload, container int) []any {
	t.Helper()
	v, ok := lookupGo(w.Output, []string{"spec", "template", "spec", "containers"})
	if !ok {
		t.Fatal("no containers")
	}
	env, _ := lookupGo(v.([]any)[container], []string{"env"})
	l, _ := env.([]any)
	return l
}

func kv(pairs ...string) []any {
	var out []any
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, map[string]any{"name": pairs[i], "value": pairs[i+1]})
	}
	return out
}

func TestTraitPatchStrategies(t *testing.T) {
	reg := testRegistry(t)
	tests := []struct {
		name   string
		traits []traitUse
		check  func(t *testing.T, w *Workload)
		err    string
	}{{
		name:   "plain unification adds fields",
		traits: []traitUse{{"plain", map[string]any{"team": "blue"}}},
		check: func(t *testing.T, w *Workload) {
			want := map[string]any{"team": "blue"}
			got, _ := lookupGo(w.Output, []string{"metadata", "labels"})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			if got, _ := lookupGo(w.Output, []string{"spec", "minReadySeconds"}); got != int64(5) {
				t.Errorf("minReadySeconds = %v, want 5", got)
			}
		},
	}, {
		name:   "a list pattern patches every element",
		traits: []traitUse{{"every-container", map[string]any{"policy": "FallbackToLogsOnError"}}},
		check: func(t *testing.T, w *Workload) {
			v, _ := lookupGo(w.Output, []string{"spec", "template", "spec", "containers"})
			list, _ := v.([]any)
			if len(list) != 2 {
				t.Fatalf("containers = %v, want the component's two", v)
			}
			for i, c := range list {
				if got, _ := lookupGo(c, []string{"terminationMessagePolicy"}); got != "FallbackToLogsOnError" {
					t.Errorf("container %d terminationMessagePolicy = %v", i, got)
				}
			}
		},
	}, {
		name:   "a different scalar without retainKeys conflicts",
		traits: []traitUse{{"replicas", map[string]any{"replicas": 3}}},
		err:    "patch.spec.replicas: conflicting values 2 (object) and 3 (patch)",
	}, {
		name:   "the same scalar unifies",
		traits: []traitUse{{"replicas", map[string]any{"replicas": 2}}},
		check: func(t *testing.T, w *Workload) {
			if got, _ := lookupGo(w.Output, []string{"spec", "replicas"}); got != int64(2) {
				t.Errorf("replicas = %v, want 2", got)
			}
		},
	}, {
		name:   "retainKeys overrides a scalar",
		traits: []traitUse{{"replicas-retain", map[string]any{"replicas": 5}}},
		check: func(t *testing.T, w *Workload) {
			if got, _ := lookupGo(w.Output, []string{"spec", "replicas"}); got != int64(5) {
				t.Errorf("replicas = %v, want 5", got)
			}
		},
	}, {
		name:   "patchKey merges containers and, inherited, env by name",
		traits: []traitUse{{"env-merge", map[string]any{"env": map[string]any{"C": "3"}}}},
		check: func(t *testing.T, w *Workload) {
			if diff := cmp.Diff(kv("A", "1", "B", "2", "C", "3"), envOf(t, w, 0)); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
			if got := envOf(t, w, 1); got != nil {
				t.Errorf("sidecar env = %v, want none", got)
			}
		},
	}, {
		name:   "patchKey without retainKeys conflicts on a changed value",
		traits: []traitUse{{"env-merge", map[string]any{"env": map[string]any{"B": "9"}}}},
		err:    `conflicting values "2" (object) and "9" (patch)`,
	}, {
		name:   "retainKeys replaces matched elements",
		traits: []traitUse{{"env-retain", map[string]any{"env": map[string]any{"B": "9", "C": "3"}}}},
		check: func(t *testing.T, w *Workload) {
			if diff := cmp.Diff(kv("A", "1", "B", "9", "C", "3"), envOf(t, w, 0)); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
		},
	}, {
		name:   "replace replaces the list",
		traits: []traitUse{{"env-replace", map[string]any{"env": map[string]any{"Z": "26"}}}},
		check: func(t *testing.T, w *Workload) {
			if diff := cmp.Diff(kv("Z", "26"), envOf(t, w, 0)); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
		},
	}, {
		name: "jsonPatch operations",
		traits: []traitUse{{"jp", map[string]any{"operations": []any{
			map[string]any{"op": "replace", "path": "/spec/replicas", "value": 7},
			map[string]any{"op": "remove", "path": "/spec/template/spec/containers/1"},
		}}}},
		check: func(t *testing.T, w *Workload) {
			if got, _ := lookupGo(w.Output, []string{"spec", "replicas"}); got != int64(7) {
				t.Errorf("replicas = %#v, want int64 7", got)
			}
			c, _ := lookupGo(w.Output, []string{"spec", "template", "spec", "containers"})
			if n := len(c.([]any)); n != 1 {
				t.Errorf("containers = %d, want 1", n)
			}
		},
	}, {
		name: "jsonMergePatch sets and deletes with null",
		traits: []traitUse{{"jmp", map[string]any{"spec": map[string]any{"replicas": 4, "template": nil},
			"metadata": map[string]any{"labels": map[string]any{"x": "y"}}}}},
		check: func(t *testing.T, w *Workload) {
			if got, _ := lookupGo(w.Output, []string{"spec", "replicas"}); got != int64(4) {
				t.Errorf("replicas = %v, want 4", got)
			}
			if _, ok := lookupGo(w.Output, []string{"spec", "template"}); ok {
				t.Error("spec.template still set after a null merge patch")
			}
			if got, _ := lookupGo(w.Output, []string{"metadata", "labels", "x"}); got != "y" {
				t.Errorf("label x = %v, want y", got)
			}
		},
	}, {
		name:   "outputs read context.output and patchOutputs patch outputs",
		traits: []traitUse{{"svc", map[string]any{"port": 8080}}},
		check: func(t *testing.T, w *Workload) {
			if len(w.Outputs) != 2 {
				t.Fatalf("outputs = %d, want config and service", len(w.Outputs))
			}
			svc := w.Outputs[1]
			if svc.Name != "service" || svc.Trait != "svc" {
				t.Errorf("second output = %s from %q, want service from svc", svc.Name, svc.Trait)
			}
			if got, _ := lookupGo(svc.Object, []string{"metadata", "name"}); got != "web" {
				t.Errorf("service name = %v, want web (from context.output)", got)
			}
			if got, _ := lookupGo(w.Outputs[0].Object, []string{"data", "port"}); got != "8080" {
				t.Errorf("config data.port = %v, want 8080", got)
			}
		},
	}, {
		name:   "errs non-empty fails the trait",
		traits: []traitUse{{"guard", map[string]any{"min": 3}}},
		err:    "trait guard: replicas 2 is below the minimum 3 (testdata/defs/guard.cue:",
	}, {
		name:   "errs empty passes",
		traits: []traitUse{{"guard", map[string]any{"min": 1}}},
		check:  func(t *testing.T, w *Workload) {},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := renderBase(t, reg, tt.traits...)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, w)
		})
	}
}

func TestParameterErrors(t *testing.T) {
	reg := testRegistry(t)
	ws := get(t, reg, capabilities.KindComponent, "webservice")
	tests := []struct {
		name  string
		props map[string]any
		want  []string
	}{{
		name:  "missing required parameter",
		props: map[string]any{},
		want:  []string{"component webservice", `parameter "image"`, "is required", "builtin/component/webservice.cue:"},
	}, {
		name:  "wrong type",
		props: map[string]any{"image": 42},
		want:  []string{"component webservice", `parameter "image"`, "conflicting values", "builtin/component/webservice.cue:"},
	}, {
		name:  "wrong type nested in a list",
		props: map[string]any{"image": "x", "ports": []any{map[string]any{"port": "eighty"}}},
		want:  []string{`parameter "ports.0.port"`, "mismatched types"},
	}, {
		name:  "value outside an enum",
		props: map[string]any{"image": "x", "exposeType": "Nope"},
		want:  []string{`parameter "exposeType"`},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Component(t.Context(), ws, tt.props, testCtx)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestContextFields(t *testing.T) {
	reg := testRegistry(t)
	c := Context{Name: "web", AppName: "shop", Namespace: "prod", Cluster: "eu-1", AppRevision: "shop-v3",
		AppRevisionNum: 3, Revision: "web-v3", AppLabels: map[string]string{"team": "blue"},
		AppAnnotations: map[string]string{"note": "hi"}, ComponentType: "ctx", PublishVersion: "1.2.3", WorkflowName: "shop"}
	w, err := Component(t.Context(), get(t, reg, capabilities.KindComponent, "ctx"), nil, c)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"name": "web", "appName": "shop", "namespace": "prod", "cluster": "eu-1",
		"appRevision": "shop-v3", "appRevisionNum": "3", "revision": "web-v3", "componentType": "ctx",
		"publishVersion": "1.2.3", "workflowName": "shop", "team": "blue", "note": "hi"}
	if diff := cmp.Diff(want, w.Output["data"]); diff != "" {
		t.Errorf("context (-want +got):\n%s", diff)
	}
}

// TestContextPullRequest: context.pullRequest is there when a preview
// renders, and absent otherwise, so that a definition can test it with
// != _|_.
func TestContextPullRequest(t *testing.T) {
	reg := testRegistry(t)
	def := get(t, reg, capabilities.KindComponent, "pr-info")
	for _, tt := range []struct {
		name string
		pr   *PullRequest
		want map[string]any
	}{
		{"preview", &PullRequest{Number: 42, Branch: "feature-x", Base: "main", HeadSHA: "0123456789abcdef0123456789abcdef01234567",
			Author: "ann", Labels: []string{"preview", "safe"}},
			map[string]any{"number": "42", "branch": "feature-x", "base": "main", "headSHA": "0123456789abcdef0123456789abcdef01234567",
				"author": "ann", "labels": "preview,safe"}},
		{"preview without labels", &PullRequest{Number: 7, Branch: "b", Base: "main", HeadSHA: "abc", Author: "bo"},
			map[string]any{"number": "7", "branch": "b", "base": "main", "headSHA": "abc", "author": "bo", "labels": ""}},
		{"no pull request", nil, map[string]any{"preview": "no"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := testCtx
			c.PullRequest = tt.pr
			w, err := Component(t.Context(), def, nil, c)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, w.Output["data"]); diff != "" {
				t.Errorf("data (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	reg := testRegistry(t)
	got, err := Defaults(t.Context(), get(t, reg, capabilities.KindComponent, "base"), map[string]any{"image": "x"}, testCtx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"image": "x", "replicas": int64(2)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}
