package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carina-gitops/carina/e2e/gitea"
)

const promoteApp = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: hello
spec:
  components:
    - name: hello
      type: webservice
      properties:
        image: ghcr.io/example/hello:IMAGE
        ports:
          - port: 8080
            expose: true
  policies:
    - name: staging
      type: topology
      properties:
        clusters: ["staging"]
        namespace: hello-staging
    - name: prod
      type: topology
      properties:
        clusters: ["prod"]
        namespace: hello-prod
  workflow:
    steps:
      - name: deploy-staging
        type: deploy
        properties:
          policies: ["staging"]
      - name: deploy-prod
        type: deploy
        properties:
          policies: ["prod"]
`

func appWithImage(tag string) string { return strings.Replace(promoteApp, "IMAGE", tag, 1) }

// TestPromoteAgainstRealGitea runs carina promote end to end against a
// real Gitea: the pin commit is pushed on a new branch over HTTP with
// go-git, one pull request is opened through the API, and re-runs update
// it instead of opening another.
func TestPromoteAgainstRealGitea(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real Gitea")
	}
	srv, err := gitea.Start(context.Background(), gitea.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	repo := srv.CreateRepo(t, "shop")
	c1 := srv.CommitFiles(t, repo, "main", "", map[string]string{"app.yaml": appWithImage("1.0.0")}, "first release")
	srv.CommitFiles(t, repo, "main", "", map[string]string{"environments/prod.yaml": "revision: " + c1 + "\n"}, "pin prod")
	c3 := srv.CommitFiles(t, repo, "main", "", map[string]string{"app.yaml": appWithImage("1.1.0")}, "hello 1.1.0")
	tok, err := srv.TokenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"promote", "hello", "--to", "prod", "--open-pr",
		"--repo", repo.CloneURL, "--git-username", gitea.AdminUser, "--git-password-file", tok,
		"--forge", "gitea", "--forge-url", srv.APIURL(), "--forge-token-file", tok}
	const branch = "carina/promote/hello-prod"

	out, err := runCarina(t, args...)
	if err != nil {
		t.Fatalf("first promote: %v\n%s", err, out)
	}
	if !strings.Contains(out, "pull request #") || !strings.Contains(out, " opened: ") {
		t.Errorf("first run output:\n%s", out)
	}
	if got := pinOn(t, srv, repo, branch); got != c3 {
		t.Errorf("pin on %s is %q, want %s", branch, got, c3)
	}
	prs := openPRsFor(t, srv, repo, branch)
	if len(prs) != 1 {
		t.Fatalf("%d open pull requests for %s after the first run, want 1", len(prs), branch)
	}
	pr := prs[0]
	for _, want := range []string{"hello 1.1.0", "pin prod", "changed `Deployment/hello-prod/hello`", c1[:12]} {
		if !strings.Contains(pr.Body, want) {
			t.Errorf("pull request body lacks %q:\n%s", want, pr.Body)
		}
	}
	if strings.Contains(pr.Body, "first release") {
		t.Errorf("body lists a commit prod already has:\n%s", pr.Body)
	}
	if pr.Title != "Promote hello to prod at "+c3[:12] {
		t.Errorf("title %q", pr.Title)
	}
	branchHead := pr.Head.SHA

	out, err = runCarina(t, args...)
	if err != nil {
		t.Fatalf("second promote: %v\n%s", err, out)
	}
	if !strings.Contains(out, "already holds") || !strings.Contains(out, " updated: ") {
		t.Errorf("second run output:\n%s", out)
	}
	prs = openPRsFor(t, srv, repo, branch)
	if len(prs) != 1 || prs[0].Number != pr.Number || prs[0].Head.SHA != branchHead {
		t.Fatalf("after the re-run: %+v, want only #%d at %s", prs, pr.Number, branchHead)
	}

	c4 := srv.CommitFiles(t, repo, "main", "", map[string]string{"app.yaml": appWithImage("1.2.0")}, "hello 1.2.0")
	if out, err = runCarina(t, args...); err != nil {
		t.Fatalf("third promote: %v\n%s", err, out)
	}
	prs = openPRsFor(t, srv, repo, branch)
	if len(prs) != 1 || prs[0].Number != pr.Number || prs[0].Title != "Promote hello to prod at "+c4[:12] {
		t.Fatalf("after a new commit: %+v, want #%d retitled for %s", prs, pr.Number, c4[:12])
	}
	srv.WaitBranch(t, repo, branch, "")
	if got := pinOn(t, srv, repo, branch); got != c4 {
		t.Errorf("pin on %s is %q, want %s", branch, got, c4)
	}
	if !strings.Contains(prs[0].Body, "hello 1.2.0") {
		t.Errorf("body lacks the new commit:\n%s", prs[0].Body)
	}

	// With --config, the repository, its credentials and the forge come
	// from the source, its forge: section included: no --forge* flag.
	c5 := srv.CommitFiles(t, repo, "main", "", map[string]string{"app.yaml": appWithImage("1.3.0")}, "hello 1.3.0")
	cfg := filepath.Join(t.TempDir(), "carina.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`sources:
  apps:
    - name: shop
      url: %q
      branch: main
      auth: {username: %s, passwordFile: %s}
      forge: {kind: gitea, apiURL: %q, tokenFile: %s}
clusters: [{name: staging, inCluster: true}]
`, repo.CloneURL, gitea.AdminUser, tok, srv.APIURL(), tok)), 0o600)
	out, err = runCarina(t, "promote", "hello", "--to", "prod", "--open-pr", "--config", cfg)
	if err != nil {
		t.Fatalf("promote --config: %v\n%s", err, out)
	}
	if !strings.Contains(out, fmt.Sprintf("pull request #%d updated: ", pr.Number)) {
		t.Errorf("promote --config output:\n%s", out)
	}
	prs = openPRsFor(t, srv, repo, branch)
	if len(prs) != 1 || prs[0].Number != pr.Number || prs[0].Title != "Promote hello to prod at "+c5[:12] {
		t.Fatalf("after promote --config: %+v, want #%d retitled for %s", prs, pr.Number, c5[:12])
	}
	// A flag still overrides the section: a token file that does not
	// exist fails, so the flag was used.
	out, err = runCarina(t, "promote", "hello", "--to", "prod", "--open-pr", "--config", cfg, "--forge-token-file", filepath.Join(t.TempDir(), "none"))
	if err == nil || !strings.Contains(err.Error(), "none") {
		t.Errorf("promote --config --forge-token-file missing: %v, want an error about that file\n%s", err, out)
	}
}

// pinOn reads environments/prod.yaml on branch through the API.
func pinOn(t *testing.T, srv *gitea.Server, repo gitea.Repo, branch string) string {
	t.Helper()
	var f struct {
		Content string `json:"content"`
	}
	if _, err := srv.Do(t.Context(), http.MethodGet, "/repos/"+repo.FullName+"/contents/environments/prod.yaml?ref="+branch, nil, &f); err != nil {
		t.Fatal(err)
	}
	data, err := base64.StdEncoding.DecodeString(f.Content)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "revision: "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func openPRsFor(t *testing.T, srv *gitea.Server, repo gitea.Repo, branch string) []gitea.PR {
	t.Helper()
	var out []gitea.PR
	for _, p := range srv.ListPRs(t, repo, "open") {
		if p.Head.Ref == branch {
			out = append(out, p)
		}
	}
	return out
}
