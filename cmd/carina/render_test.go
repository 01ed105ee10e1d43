package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func runCarina(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	return out.String(), err
}

// docs splits a YAML stream into objects.
func docs(t *testing.T, stream string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(stream))
	var out []map[string]any
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("output is not a YAML stream: %v", err)
		}
		if m != nil {
			out = append(out, m)
		}
	}
}

func meta(obj map[string]any) (kind, ns, name string, labels map[string]any) {
	md, _ := obj["metadata"].(map[string]any)
	kind, _ = obj["kind"].(string)
	ns, _ = md["namespace"].(string)
	name, _ = md["name"].(string)
	labels, _ = md["labels"].(map[string]any)
	return
}

func TestRenderExampleShopStaging(t *testing.T) {
	out, err := runCarina(t, "render", filepath.Join("..", "..", "examples", "shop"), "--env", "staging")
	if err != nil {
		t.Fatal(err)
	}
	objs := docs(t, out)
	want := map[string]bool{
		"Deployment/storefront": false, "Service/storefront": false, "Ingress/storefront": false,
		"Deployment/orders": false, "StatefulSet/cache-redis": false, "Service/cache-redis": false,
		"Deployment/search": false, "Service/search": false,
	}
	for _, o := range objs {
		kind, ns, name, labels := meta(o)
		if ns != "shop-staging" {
			t.Errorf("%s/%s is in namespace %q, want shop-staging", kind, name, ns)
		}
		if labels["app.carina.dev/env"] != "staging" || labels["app.carina.dev/name"] != "shop" || labels["app.carina.dev/component"] == nil {
			t.Errorf("%s/%s labels = %v, want Carina's ownership labels for env staging", kind, name, labels)
		}
		if _, ok := want[kind+"/"+name]; ok {
			want[kind+"/"+name] = true
		}
	}
	for ref, seen := range want {
		if !seen {
			t.Errorf("%s missing from the staging render", ref)
		}
	}
}

func TestRenderAllEnvironmentsInWorkflowOrder(t *testing.T) {
	out, err := runCarina(t, "render", filepath.Join("..", "..", "examples", "shop"))
	if err != nil {
		t.Fatal(err)
	}
	var envs []string
	for _, o := range docs(t, out) {
		_, _, _, labels := meta(o)
		env, _ := labels["app.carina.dev/env"].(string)
		if len(envs) == 0 || envs[len(envs)-1] != env {
			envs = append(envs, env)
		}
	}
	if strings.Join(envs, ",") != "staging,prod" {
		t.Errorf("environments in output order = %v, want staging then prod", envs)
	}
}

func TestRenderJSON(t *testing.T) {
	out, err := runCarina(t, "render", filepath.Join("..", "..", "examples", "shop"), "--env", "prod", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		APIVersion string           `json:"apiVersion"`
		Kind       string           `json:"kind"`
		Items      []map[string]any `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if list.Kind != "List" || list.APIVersion != "v1" || len(list.Items) < 8 {
		t.Fatalf("got %s %s with %d items, want a v1 List of the prod objects", list.APIVersion, list.Kind, len(list.Items))
	}
}

func TestRenderFileWithDefinitions(t *testing.T) {
	mod := filepath.Join("..", "..", "examples", "capabilities")
	out, err := runCarina(t, "render", "-f", filepath.Join(mod, "app.yaml"), "--definitions", mod)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "kind: PodDisruptionBudget") {
		t.Errorf("the custom pdb trait did not render:\n%s", out)
	}
	if _, err := runCarina(t, "render", "-f", filepath.Join(mod, "app.yaml")); err == nil || !strings.Contains(err.Error(), `trait type "pdb" is not defined`) {
		t.Errorf("without --definitions: %v, want pdb undefined", err)
	}
}

func TestRenderErrors(t *testing.T) {
	dir := t.TempDir()
	bad := "apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: bad\nspec:\n  components:\n    - name: web\n      type: webservice\n      properties:\n        image: 42\n"
	if err := os.WriteFile(filepath.Join(dir, "app.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	shop := filepath.Join("..", "..", "examples", "shop")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"render", shop, "--env", "nope"}, `has an environment "nope" (it has staging, prod)`},
		{[]string{"render", shop, "-o", "xml"}, `output format "xml" is not supported`},
		{[]string{"render", filepath.Join(dir, "missing")}, "missing"},
		{[]string{"render", dir}, `app.yaml:7:`},
		{[]string{"render", dir}, `parameter "image"`},
	}
	for _, tt := range tests {
		out, err := runCarina(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("carina %v = %v, want an error containing %q", tt.args, err, tt.want)
		}
		if out != "" {
			t.Errorf("carina %v printed output despite the error:\n%s", tt.args, out)
		}
	}
}
