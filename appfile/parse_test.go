package appfile

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// errorLines returns the lines of an ErrorList, failing if err is not one.
func errorLines(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		t.Fatal("got no error")
	}
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error is not an ErrorList: %T %v", err, err)
	}
	lines := make([]string, len(list))
	for i, e := range list {
		lines[i] = e.Error()
	}
	return lines
}

// app builds a KubeVela Application document from its spec, indented by
// the caller as under "spec:".
func app(spec string) string {
	return "apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: shop\nspec:\n" + spec
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string
	}{{
		name: "missing names and types",
		data: app(`  components:
    - type: webservice
    - name: web
      traits:
        - properties: {replicas: 1}
  policies:
    - name: p
  workflow:
    steps:
      - type: deploy
`),
		want: []string{
			`a.yaml:7:7: component #1: name is required`,
			`a.yaml:8:7: component "web": type is required`,
			`a.yaml:10:11: component "web" trait #1: type is required`,
			`a.yaml:12:7: policy "p": type is required`,
			`a.yaml:15:9: step #1: name is required`,
		},
	}, {
		name: "duplicate names",
		data: app(`  components:
    - {name: web, type: webservice}
    - {name: web, type: worker}
  policies:
    - {name: p, type: garbage-collect}
    - {name: p, type: apply-once}
  workflow:
    steps:
      - name: go
        type: step-group
        subSteps:
          - {name: go, type: deploy}
`),
		want: []string{
			`a.yaml:8:7: component "web" is already defined at a.yaml:7:7`,
			`a.yaml:11:7: policy "p" is already defined at a.yaml:10:7`,
			`a.yaml:17:13: sub-step "go" is already defined at a.yaml:14:9`,
		},
	}, {
		name: "component dependsOn unknown, self and cycle",
		data: app(`  components:
    - {name: a, type: worker, dependsOn: [b]}
    - {name: b, type: worker, dependsOn: [c]}
    - {name: c, type: worker, dependsOn: [a, c, db]}
`),
		want: []string{
			`a.yaml:7:7: component "a": dependency cycle a -> b -> c -> a`,
			`a.yaml:9:7: component "c": dependsOn names the component itself`,
			`a.yaml:9:7: component "c": dependsOn names unknown component "db"`,
		},
	}, {
		name: "step dependsOn unknown and cycle",
		data: app(`  components: []
  workflow:
    mode: DAG
    steps:
      - {name: one, type: deploy, dependsOn: [two]}
      - {name: two, type: deploy, dependsOn: [one, three]}
`),
		want: []string{
			`a.yaml:10:9: step "one": dependency cycle one -> two -> one`,
			`a.yaml:11:9: step "two": dependsOn names unknown step "three"`,
		},
	}, {
		name: "unknown and unsupported keys",
		data: `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: shop
  uid: 1234
spec:
  component: []
  components:
    - name: web
      type: webservice
      trait: []
      scopes: []
  workflow:
    ref: shared
status: {}
`,
		want: []string{
			`a.yaml:5:3: application "shop" metadata: unknown field "uid"`,
			`a.yaml:7:3: application "shop" spec: unknown field "component"`,
			`a.yaml:11:7: component "web": unknown field "trait"`,
			`a.yaml:12:7: component "web": field "scopes" is not supported by carina`,
			`a.yaml:14:5: workflow: field "ref" is not supported by carina`,
			`a.yaml:15:1: application "shop": unknown field "status"`,
		},
	}, {
		name: "wrong kinds",
		data: `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: shop
  labels:
    tier: 3
spec:
  components:
    - name: web
      type: [webservice]
      properties: [1, 2]
      dependsOn: db
      traits: {scaler: {}}
  policies: {}
`,
		want: []string{
			`a.yaml:6:11: application "shop" metadata.labels "tier" must be a string, got a number`,
			`a.yaml:9:7: component "web": type is required`,
			`a.yaml:10:13: component "web" type must be a string, got a list`,
			`a.yaml:11:19: component "web" properties must be a mapping, got a list`,
			`a.yaml:12:18: component "web" dependsOn must be a list, got a string`,
			`a.yaml:13:15: component "web" traits must be a list, got a mapping`,
			`a.yaml:14:13: spec.policies must be a list, got a mapping`,
		},
	}, {
		name: "deploy step names unknown policy, bad timeouts and modes",
		data: app(`  components: [{name: web, type: webservice}]
  policies:
    - {name: prod, type: topology, properties: {clusters: [prod]}}
  workflow:
    mode: Parallel
    steps:
      - name: deploy
        type: deploy
        timeout: 10 minutes
        properties: {policies: [prod, prd]}
      - {name: wait, type: suspend, timeout: -5s, mode: DAG}
      - {name: notify, type: notify, subSteps: [{name: x, type: suspend}]}
`),
		want: []string{
			`a.yaml:10:5: workflow mode "Parallel" must be StepByStep or DAG`,
			`a.yaml:12:9: step "deploy": timeout "10 minutes" is not a positive duration such as 30s, 10m or 1h`,
			`a.yaml:12:9: step "deploy": policy "prd" is not defined`,
			`a.yaml:16:9: step "wait": timeout "-5s" is not a positive duration such as 30s, 10m or 1h`,
			`a.yaml:16:9: step "wait": only a step-group step has a mode`,
			`a.yaml:17:9: step "notify": only a step-group step has subSteps`,
		},
	}, {
		name: "unsupported apiVersion",
		data: `apiVersion: core.oam.dev/v1alpha2
kind: Application
metadata: {name: shop}
spec: {components: []}
`,
		want: []string{`a.yaml:1:13: application "shop": apiVersion "core.oam.dev/v1alpha2" is not supported; use core.oam.dev/v1beta1`},
	}, {
		name: "names that are not DNS labels",
		data: `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: Shop_1, namespace: "-x"}
spec:
  components: [{name: Web.v2, type: webservice}]
  policies: [{name: EU, type: topology}]
`,
		want: []string{
			`a.yaml:1:1: application "Shop_1": name must be a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters)`,
			`a.yaml:1:1: application "Shop_1": namespace "-x" must be a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters)`,
			`a.yaml:5:16: component "Web.v2": name must be a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters)`,
			`a.yaml:6:14: policy "EU": a topology policy's name is an environment name and must be a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters)`,
		},
	}, {
		name: "override and topology policies",
		data: app(`  components: [{name: web, type: webservice}]
  policies:
    - name: eu
      type: topology
      properties:
        clusterLabelSelector: {region: eu}
    - name: us
      type: topology
      properties: {clusters: [us-1, us-1], namespace: 7}
    - name: bump
      type: override
      properties:
        selector: [web, api]
        components:
          - name: wbe
          - name: web
            properties: [1]
          - oops
`),
		want: []string{
			`a.yaml:8:7: policy "eu": clusterLabelSelector is not supported by carina; list the target clusters by name in clusters`,
			`a.yaml:12:7: policy "us": cluster "us-1" is listed twice`,
			`a.yaml:12:7: policy "us": namespace must be a string, got a number`,
			`a.yaml:15:7: policy "bump" components #1: name "wbe" is no component; to add it, give its type`,
			`a.yaml:15:7: policy "bump" components #2 properties must be a mapping, got a list`,
			`a.yaml:15:7: policy "bump" components #3 must be a mapping, got a string`,
			`a.yaml:15:7: policy "bump": selector entry names unknown component "api"`,
		},
	}, {
		name: "workflow without deploy step",
		data: app(`  components: [{name: web, type: webservice}]
  workflow:
    steps: [{name: wait, type: suspend}]
`),
		want: []string{`a.yaml:8:5: application "shop": the workflow has no deploy step, so the application deploys nowhere`},
	}, {
		name: "topology named default next to the default environment",
		data: app(`  components: [{name: web, type: webservice}]
  policies: [{name: default, type: topology}]
  workflow:
    steps:
      - {name: a, type: deploy, properties: {policies: [default]}}
      - {name: b, type: deploy}
`),
		want: []string{`a.yaml:11:9: environment "default": a topology policy named "default" conflicts with the default environment`},
	}, {
		name: "yaml syntax error",
		data: "name: shop\nservices:\n  web: {type: webservice\n",
		want: []string{`a.yaml:3: invalid YAML: did not find expected ',' or '}'`},
	}, {
		name: "duplicate keys and non-finite numbers",
		data: app(`  components:
    - name: web
      type: webservice
      properties:
        cpu: .inf
        cpu: 1
      type: worker
`),
		want: []string{
			`a.yaml:10:14: component "web" properties: .inf is not a finite number`,
			`a.yaml:11:9: component "web" properties: duplicate key "cpu" (first at line 10)`,
			`a.yaml:12:7: component "web": duplicate key "type" (first at line 8)`,
		},
	}, {
		name: "a problem inside an anchor is reported once for each component using it",
		data: app(`  components:
    - {name: a, type: worker, properties: &p {x: .nan, y: {k: 1, k: 2}}}
    - {name: b, type: worker, properties: {z: *p, w: *p}}
`),
		want: []string{
			`a.yaml:7:50: component "a" properties: .nan is not a finite number`,
			`a.yaml:7:50: component "b" properties: .nan is not a finite number`,
			`a.yaml:7:66: component "a" properties: duplicate key "k" (first at line 7)`,
			`a.yaml:7:66: component "b" properties: duplicate key "k" (first at line 7)`,
		},
	}, {
		name: "document that is not a mapping",
		data: "- name: shop\n",
		want: []string{`a.yaml:1:1: document must be a mapping, got a list`},
	}, {
		name: "no application",
		data: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
		want: []string{`a.yaml: file holds no application`},
	}, {
		name: "two applications",
		data: "name: a\nservices: {}\n---\nname: b\nservices: {}\n",
		want: []string{`a.yaml:4:1: file holds 2 applications where one was expected`},
	}, {
		name: "short form problems",
		data: `name: shop
service: {}
services:
  web:
    type: webservice
    image: a
    properties: {image: b}
  worker: [1]
environments:
  prod:
    cluster: [x]
    overrides:
      wbe: {image: c}
workflow:
  steps: []
`,
		want: []string{
			`a.yaml:2:1: appfile "shop": unknown field "service"`,
			`a.yaml:6:5: service "web": property "image" is given both inline and under properties`,
			`a.yaml:8:3: component "worker": type is required`,
			`a.yaml:8:11: service "worker" must be a mapping, got a list`,
			`a.yaml:11:5: environment "prod": unknown field "cluster"`,
			`a.yaml:12:5: policy "prod-overrides" components #1: name "wbe" is no component; to add it, give its type`,
			`a.yaml:14:1: appfile "shop": environments and workflow cannot both be given; write the deploy steps in workflow instead`,
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app, err := Parse("a.yaml", []byte(tc.data))
			if app != nil {
				t.Errorf("Parse returned an application with an error")
			}
			if diff := cmp.Diff(tc.want, errorLines(t, err)); diff != "" {
				t.Errorf("errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestErrorListPrintsEachLine checks the ErrorList text and that
// errors.As finds a single entry through it.
func TestErrorListPrintsEachLine(t *testing.T) {
	_, err := Parse("x.yaml", []byte("name: x\nservices:\n  a: {}\n  b: {}\n"))
	want := "x.yaml:3:3: component \"a\": type is required\nx.yaml:4:3: component \"b\": type is required"
	if err == nil || err.Error() != want {
		t.Fatalf("got %q, want %q", err, want)
	}
	var one *Error
	if !errors.As(err, &one) || one.Pos.Line != 3 {
		t.Errorf("errors.As(*Error) = %v, first entry at line 3 expected", one)
	}
	if !strings.HasPrefix(one.Error(), "x.yaml:3:3: ") {
		t.Errorf("entry prints %q", one.Error())
	}
}
