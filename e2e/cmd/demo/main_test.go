package main

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDemoRuns runs `make demo`'s program to completion with -exit against
// two real local control planes, a real Git server and the agent, so the
// quick start keeps working. It checks the story's key lines.
func TestDemoRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two control planes")
	}
	opts := DefaultOptions()
	opts.AppDir = filepath.Join("..", "..", "..", "examples", "demo", "app")
	opts.Exit = true
	var out bytes.Buffer
	err := run(t.Context(), opts, &out)
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`staging: Service/hello created, Deployment/hello created|staging: Deployment/hello created, Service/hello created`),
		regexp.MustCompile(`staging: deployment/hello 2/2 Available, ghcr.io/example/hello:1.0.0`),
		regexp.MustCompile(`gate: workflow step promote-to-prod is suspended; prod has nothing yet`),
		regexp.MustCompile(`resume: POST http://127.0.0.1:\d+/api/v1/apps/hello/resume`),
		regexp.MustCompile(`prod: deployment/hello 4/4 Available, ghcr.io/example/hello:1.0.0`),
		regexp.MustCompile(`prod override applied: 4 replicas in prod, 2 in staging`),
		regexp.MustCompile(`signed GitHub push webhook sent to .*: 202`),
		regexp.MustCompile(`staging: redeployed ghcr.io/example/hello:1.1.0, commit to applied in \d`),
		regexp.MustCompile(`prod: deployment/hello 4/4 Available, ghcr.io/example/hello:1.1.0`),
		regexp.MustCompile("drift: someone runs `kubectl edit deployment/hello -n hello-prod` in prod and sets replicas: 4 -> 1"),
		regexp.MustCompile(`prod: the agent saw the edit and put replicas back to 4, \d+(\.\d+)?m?s after kubectl returned`),
		regexp.MustCompile(`PR #1 "hello 1.2.0-rc.1" opened \(feature/hello-1.2 -> main\); signed GitHub pull_request webhook \(opened\) sent to .*: 202`),
		regexp.MustCompile(`pr-1: (Service/hello created, Deployment/hello created|Deployment/hello created, Service/hello created) in namespace hello-pr-1 on staging`),
		regexp.MustCompile(`pr-1: deployment/hello 2/2 Available, ghcr.io/example/hello:1.2.0-rc.1; webhook to applied and healthy in \d`),
		regexp.MustCompile(`the preview is applied as system:serviceaccount:hello-pr-1:previewer, bound to ClusterRole/edit in hello-pr-1 only`),
		regexp.MustCompile(`commit status on [0-9a-f]{12}: carina/preview success "applied and healthy"`),
		regexp.MustCompile(`hello\s+pr-1\s+staging\s+\S+\s+Synced\s+Healthy`),
		regexp.MustCompile(`pr-1 pruned \(.*\), namespace hello-pr-1 (deleted|terminating), \d`),
		regexp.MustCompile(`APP\s+ENV\s+CLUSTERS\s+REVISION\s+SYNC\s+HEALTH`),
		regexp.MustCompile(`hello\s+staging\s+staging\s+main@sha1:[0-9a-f]{12}\s+Synced\s+Healthy`),
		regexp.MustCompile(`hello\s+prod\s+prod\s+main@sha1:[0-9a-f]{12}\s+Synced\s+Healthy`),
		regexp.MustCompile(`metrics\s+http://127.0.0.1:\d+/metrics`),
	} {
		if !want.MatchString(out.String()) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "agent stopped with") {
		t.Error("the agent did not stop cleanly")
	}
}
