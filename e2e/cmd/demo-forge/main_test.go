package main

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDemoForgeRuns runs `make demo-forge`'s program to completion with
// -exit against a real Gitea, two real local control planes and the
// agent, so the walk-through keeps working. It checks the story's key
// lines: the preview with its commit status, the merge to staging, the
// promotion pull request after the soak, and prod at the pinned release.
func TestDemoForgeRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Gitea and two control planes")
	}
	opts := DefaultOptions()
	opts.AppDir = filepath.Join("..", "..", "..", "examples", "forge-demo")
	opts.Exit = true
	var out bytes.Buffer
	err := run(t.Context(), opts, &out)
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`staging: Service/web created, Deployment/web created; deployment/web 2/2 Available, ghcr.io/acme/shop:1.0.0|staging: Deployment/web created, Service/web created; deployment/web 2/2 Available, ghcr.io/acme/shop:1.0.0`),
		regexp.MustCompile(`prod:\s+.*deployment/web 3/3 Available, ghcr.io/acme/shop:1.0.0 \(revision sha1:[0-9a-f]{12}, pinned to [0-9a-f]{12}\)`),
		regexp.MustCompile(`PR #1 "shop 1.1.0" by ann: http://127.0.0.1:\d+/carina-admin/shop/pulls/1`),
		regexp.MustCompile(`pr-1: deployment/web 2/2 Available, ghcr.io/acme/shop:1.1.0; pull request opened to preview applied and healthy in \d`),
		regexp.MustCompile(`kubectl get -n shop-pr-1: deployment/web, rolebinding/carina-preview \(ClusterRole/edit\), service/web, serviceaccount/previewer`),
		regexp.MustCompile(`Gitea, PR #1, checks: carina/preview success "applied and healthy"`),
		regexp.MustCompile(`shop\s+pr-1\s+staging\s+refs/pull/1/head@sha1:[0-9a-f]{12}\s+Synced\s+Healthy`),
		regexp.MustCompile(`staging: deployment/web 2/2 Available, ghcr.io/acme/shop:1.1.0; merge to applied in \d`),
		regexp.MustCompile(`pr-1: pruned, namespace shop-pr-1 (deleted|terminating)`),
		regexp.MustCompile(`prod: still ghcr.io/acme/shop:1.0.0, pinned to [0-9a-f]{12}`),
		regexp.MustCompile(`Gitea: PR #2 "Promote shop to prod at [0-9a-f]{12}" by carina-bot from carina/promote/shop-prod`),
		regexp.MustCompile("- changed `Deployment/shop-prod/web`"),
		regexp.MustCompile(`workflow: promote-prod succeeded: pull request #2 opened to pin prod to [0-9a-f]{12}`),
		regexp.MustCompile(`prod: deployment/web 3/3 Available, ghcr.io/acme/shop:1.1.0, pinned to [0-9a-f]{12}`),
		regexp.MustCompile(`carina/prod success "applied and healthy"`),
		regexp.MustCompile(`shop\s+prod\s+prod\s+sha1:[0-9a-f]{12}\s+Synced\s+Healthy\s+\S+\s+pinned to [0-9a-f]{12}`),
	} {
		if !want.MatchString(out.String()) {
			t.Errorf("demo-forge output lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "agent stopped with") {
		t.Error("the agent did not stop cleanly")
	}
}
