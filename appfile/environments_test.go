package appfile

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEnvironments(t *testing.T) {
	topo := func(name string, props map[string]any) Policy {
		return Policy{Name: name, Type: TopologyPolicy, Properties: props}
	}
	override := func(name string) Policy {
		return Policy{Name: name, Type: OverridePolicy, Properties: map[string]any{"components": []any{}}}
	}
	deploy := func(name string, policies ...string) WorkflowStep {
		return WorkflowStep{Name: name, Type: DeployStep, Properties: map[string]any{"policies": policies}}
	}
	eu := topo("eu", map[string]any{"clusters": []any{"eu-1"}, "namespace": "shop-eu"})
	us := topo("us", map[string]any{"clusters": []string{"us-1", "us-2"}, "serviceAccount": "deployer"})
	big, small := override("big"), override("small")
	gc := Policy{Name: "gc", Type: "garbage-collect"}

	tests := []struct {
		name string
		app  Application
		want []Environment
	}{{
		name: "no policy: the default environment in the app namespace",
		app:  Application{Name: "a", Namespace: "shop"},
		want: []Environment{{Name: DefaultEnv, Namespace: "shop"}},
	}, {
		name: "no policy and no namespace",
		app:  Application{Name: "a"},
		want: []Environment{{Name: DefaultEnv, Namespace: "default"}},
	}, {
		name: "no workflow, overrides only: default environment with all of them",
		app:  Application{Name: "a", Policies: []Policy{big, gc, small}},
		want: []Environment{{Name: DefaultEnv, Namespace: "default", Overrides: []Policy{big, small}, Policies: []Policy{big, small}}},
	}, {
		name: "no workflow: every topology with every override, in declaration order",
		app:  Application{Name: "a", Namespace: "shop", Policies: []Policy{us, big, eu, gc}},
		want: []Environment{
			{Name: "us", Clusters: []string{"us-1", "us-2"}, Namespace: "shop", ServiceAccount: "deployer", Overrides: []Policy{big}, Policies: []Policy{us, big}},
			{Name: "eu", Clusters: []string{"eu-1"}, Namespace: "shop-eu", Overrides: []Policy{big}, Policies: []Policy{big, eu}},
		},
	}, {
		name: "an empty workflow is no workflow",
		app:  Application{Name: "a", Policies: []Policy{eu}, Workflow: &Workflow{}},
		want: []Environment{{Name: "eu", Clusters: []string{"eu-1"}, Namespace: "shop-eu", Policies: []Policy{eu}}},
	}, {
		name: "workflow order, step-groups, overrides in step order, first deployment kept",
		app: Application{Name: "a", Policies: []Policy{eu, us, big, small}, Workflow: &Workflow{Steps: []WorkflowStep{
			{Name: "wait", Type: "suspend"},
			{Name: "group", Type: StepGroupStep, SubSteps: []WorkflowStep{
				deploy("to-us", "small", "us", "big"),
				deploy("to-both", "eu", "us"),
			}},
			deploy("eu-again", "eu", "big"),
		}}},
		want: []Environment{
			{Name: "us", Step: "to-us", Clusters: []string{"us-1", "us-2"}, Namespace: "default", ServiceAccount: "deployer", Overrides: []Policy{small, big}, Policies: []Policy{small, us, big}},
			{Name: "eu", Step: "to-both", Clusters: []string{"eu-1"}, Namespace: "shop-eu", Policies: []Policy{eu, us}},
		},
	}, {
		name: "deploy step without topology: the default environment",
		app: Application{Name: "a", Namespace: "shop", Policies: []Policy{big}, Workflow: &Workflow{Steps: []WorkflowStep{
			deploy("local", "big"),
			{Name: "bare", Type: DeployStep},
		}}},
		want: []Environment{{Name: DefaultEnv, Step: "local", Namespace: "shop", Overrides: []Policy{big}, Policies: []Policy{big}}},
	}, {
		name: "a label selector next to clusters is noted and ignored",
		app: Application{Name: "a", Policies: []Policy{topo("eu", map[string]any{
			"clusters": []any{"eu-1"}, "clusterLabelSelector": map[string]any{"region": "eu"},
		})}},
		want: []Environment{{Name: "eu", Clusters: []string{"eu-1"}, Namespace: "default",
			Policies: []Policy{topo("eu", map[string]any{"clusters": []any{"eu-1"}, "clusterLabelSelector": map[string]any{"region": "eu"}})},
			Notes:    []string{"clusterLabelSelector is ignored: carina deploys to the clusters listed in clusters"}}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Environments(&tc.app)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("environments (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnvironmentsErrors(t *testing.T) {
	pos := func(line int) Position { return Position{File: "a.yaml", Line: line} }
	tests := []struct {
		name string
		app  Application
		want []string
	}{{
		name: "bad topology properties",
		app: Application{Name: "a", Policies: []Policy{
			{Name: "eu", Type: TopologyPolicy, Pos: pos(1), Properties: map[string]any{"clusters": "eu-1"}},
			{Name: "us", Type: TopologyPolicy, Pos: pos(2), Properties: map[string]any{"clusters": []any{"us-1", 3}, "namespace": "US", "serviceAccount": true}},
			{Name: "ap", Type: TopologyPolicy, Pos: pos(3), Properties: map[string]any{"clusterSelector": map[string]any{"r": "ap"}}},
		}},
		want: []string{
			`a.yaml:1: policy "eu": clusters must be a list of cluster names, got a string`,
			`a.yaml:2: policy "us": clusters entries must be cluster names, got a number`,
			`a.yaml:2: policy "us": namespace "US" must be a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters)`,
			`a.yaml:2: policy "us": serviceAccount must be a string, got a boolean`,
			`a.yaml:3: policy "ap": clusterSelector is not supported by carina; list the target clusters by name in clusters`,
		},
	}, {
		name: "bad deploy steps",
		app: Application{Name: "a", Workflow: &Workflow{Steps: []WorkflowStep{
			{Name: "one", Type: DeployStep, Pos: pos(4), Properties: map[string]any{"policies": "eu"}},
			{Name: "two", Type: DeployStep, Pos: pos(5), Properties: map[string]any{"policies": []any{"eu", 1}}},
		}}},
		want: []string{
			`a.yaml:4: step "one": properties.policies must be a list of policy names, got a string`,
			`a.yaml:5: step "two": properties.policies entries must be policy names, got a number`,
			`a.yaml:5: step "two": policy "eu" is not defined`,
		},
	}, {
		name: "workflow without deploy",
		app:  Application{Name: "a", Workflow: &Workflow{Pos: pos(6), Steps: []WorkflowStep{{Name: "s", Type: "suspend"}}}},
		want: []string{`a.yaml:6: application "a": the workflow has no deploy step, so the application deploys nowhere`},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			envs, err := Environments(&tc.app)
			if envs != nil {
				t.Errorf("got environments with an error: %v", envs)
			}
			if diff := cmp.Diff(tc.want, errorLines(t, err)); diff != "" {
				t.Errorf("errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEnvironmentsDoNotShareProperties checks that changing an
// environment's policies changes neither the app nor another environment.
func TestEnvironmentsDoNotShareProperties(t *testing.T) {
	app := &Application{Name: "a", Policies: []Policy{
		{Name: "eu", Type: TopologyPolicy},
		{Name: "us", Type: TopologyPolicy},
		{Name: "big", Type: OverridePolicy, Properties: map[string]any{"components": []any{map[string]any{"name": "web"}}}},
	}}
	envs, err := Environments(app)
	if err != nil || len(envs) != 2 {
		t.Fatalf("Environments = %v, %v", envs, err)
	}
	envs[0].Overrides[0].Properties["components"].([]any)[0].(map[string]any)["name"] = "changed"
	for _, got := range []any{
		app.Policies[2].Properties["components"].([]any)[0].(map[string]any)["name"],
		envs[1].Overrides[0].Properties["components"].([]any)[0].(map[string]any)["name"],
	} {
		if got != "web" {
			t.Errorf("a shared map was changed: name is %v", got)
		}
	}
}
