package agent

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/carina-gitops/carina/e2e/gitea"
	"github.com/carina-gitops/carina/source/forge"
)

// startGitea starts a real Gitea on loopback for the test.
func startGitea(t *testing.T) *gitea.Server {
	t.Helper()
	if testCluster == nil {
		t.Skip("needs the local control plane and Gitea (not in -short mode)")
	}
	srv, err := gitea.Start(context.Background(), gitea.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	return srv
}

// giteaSource is the sources section of one app source on a Gitea
// repository, with its forge; extra adds to the forge section.
func giteaSource(srv *gitea.Server, repo gitea.Repo, tokenFile, extra string) string {
	if extra != "" {
		extra = ", " + extra
	}
	return fmt.Sprintf(`apps:
    - name: apps
      url: %q
      interval: 1h
      auth: {username: %s, passwordFile: %s}
      forge: {kind: gitea, apiURL: %q, tokenFile: %s%s}`, repo.CloneURL, gitea.AdminUser, tokenFile, srv.APIURL(), tokenFile, extra)
}

// TestCommitStatusesOnGitea: the agent posts carina/<env> commit
// statuses to a real Gitea: success, with a link to the status API,
// once a commit is applied and healthy; failure, with the sanitized
// error, for a commit the API server refuses.
func TestCommitStatusesOnGitea(t *testing.T) {
	_, cs := needCluster(t)
	srv := startGitea(t)
	ns := testNS("statuses")
	createNamespaces(t, cs, ns)
	app := ns + "-shop"
	repo := srv.CreateRepo(t, app)
	good := srv.CommitFiles(t, repo, "main", "", map[string]string{app + "/Appfile": simpleAppfile(app, ns, "v1")}, "shop v1")
	tok, err := srv.TokenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, cfg := agentConfigSources(t, giteaSource(srv, repo, tok, `statusURL: "http://carina.test"`), "", testCluster.Kubeconfig(), "127.0.0.1:0", "")
	r := startAgent(t, cfg)
	eventually(t, 60*time.Second, "shop healthy", healthyEnv(r, app, "default"))

	fc, err := forge.New(forge.Options{Kind: forge.Gitea, BaseURL: srv.APIURL(), Repo: repo.Owner + "/" + repo.Name, TokenFile: tok})
	if err != nil {
		t.Fatal(err)
	}
	statusOf := func(sha string, want forge.State) func() (bool, string) {
		return func() (bool, string) {
			c, err := fc.CombinedStatus(t.Context(), sha)
			if err != nil {
				return false, err.Error()
			}
			for _, s := range c.Statuses {
				if s.Context == "carina/default" {
					return s.State == want, fmt.Sprintf("%+v", s)
				}
			}
			return false, fmt.Sprintf("no carina/default in %+v", c.Statuses)
		}
	}
	eventually(t, 30*time.Second, "success on the applied commit", statusOf(good, forge.StateSuccess))
	c, err := fc.CombinedStatus(t.Context(), good)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range c.Statuses {
		if s.Context == "carina/default" && (s.TargetURL != "http://carina.test/api/v1/apps/"+app+"/envs/default" || s.Description != "applied and healthy") {
			t.Errorf("status = %+v, want the link to the status API and %q", s, "applied and healthy")
		}
	}

	// A ConfigMap value that is a number: the API server refuses it.
	bad := srv.CommitFiles(t, repo, "main", "", map[string]string{app + "/Appfile": simpleAppfile(app, ns, "5")}, "shop with a number")
	r.hook(t)
	eventually(t, 30*time.Second, "failure on the refused commit", statusOf(bad, forge.StateFailure))
	if ok, got := statusOf(good, forge.StateSuccess)(); !ok {
		t.Errorf("the applied commit's status changed: %s", got)
	}
}
