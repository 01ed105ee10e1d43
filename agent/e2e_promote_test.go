package agent

import (
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carina-gitops/carina/e2e/gitea"
	"github.com/carina-gitops/carina/source/forge"
)

// promoteAppfile is a KubeVela Application deployed to staging, then
// promoted to prod by a promote step after soak; its pull requests get
// previews.
func promoteAppfile(app, ns, greeting, soak string) string {
	return fmt.Sprintf(`apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: %[1]s}
spec:
  components:
    - name: cfg
      type: k8s-objects
      properties:
        objects:
          - apiVersion: v1
            kind: ConfigMap
            metadata: {name: %[1]s}
            data: {greeting: %[3]q}
  policies:
    - {name: staging, type: topology, properties: {clusters: [local], namespace: %[2]s-staging}}
    - {name: prod, type: topology, properties: {clusters: [local], namespace: %[2]s-prod}}
    - {name: previews, type: preview, properties: {}}
  workflow:
    steps:
      - {name: deploy-staging, type: deploy, properties: {policies: [staging]}}
      - {name: promote, type: promote, properties: {from: staging, to: prod, soakTime: %[4]s}}
      - {name: deploy-prod, type: deploy, properties: {policies: [prod]}}
`, app, ns, greeting, soak)
}

// TestPromoteStepOnGitea: a merge to main deploys staging; after the soak
// exactly one promotion pull request to prod is opened on a real Gitea,
// also across an agent restart; merging it deploys the pinned revision to
// prod at once, without a second soak, and the status shows the pin. A
// commit that changes nothing prod renders (the first one, and the
// merged promotion) proposes nothing and does not soak. A release that
// fails in staging is never proposed, and its commit status and the
// workflow say why.
func TestPromoteStepOnGitea(t *testing.T) {
	_, cs := needCluster(t)
	srv := startGitea(t)
	ns := testNS("promote")
	app := ns + "-shop"
	createNamespaces(t, cs, ns+"-staging", ns+"-prod")
	// The soak is long enough that prod deploying before it could pass
	// twice is a clear sign that the merge did not soak again.
	const soak = 20 * time.Second
	repo := srv.CreateRepo(t, app)
	c1 := srv.CommitFiles(t, repo, "main", "", map[string]string{
		"app.yaml":               promoteAppfile(app, ns, "v1", soak.String()),
		"environments/prod.yaml": "revision: PLACEHOLDER\n",
	}, "shop v1")
	c1 = srv.CommitFiles(t, repo, "main", "", map[string]string{"environments/prod.yaml": "revision: " + c1 + "\n"}, "pin prod to v1")
	tok, err := srv.TokenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, cfg := agentConfigSources(t, giteaSource(srv, repo, tok, ""), "", testCluster.Kubeconfig(), "127.0.0.1:0", "")
	r := startAgent(t, cfg)
	greetings := func(staging, prod string) func() (bool, string) {
		return func() (bool, string) {
			s, p := configMapData(t, cs, ns+"-staging", app), configMapData(t, cs, ns+"-prod", app)
			return s == staging && p == prod, "staging " + s + ", prod " + p
		}
	}
	eventually(t, 60*time.Second, "v1 in staging and prod", greetings("v1", "v1"))
	openPromotions := func() []gitea.PR {
		var out []gitea.PR
		for _, pr := range srv.ListPRs(t, repo, "open") {
			if pr.Head.Ref == "carina/promote/"+app+"-prod" {
				out = append(out, pr)
			}
		}
		return out
	}
	promoteStep := func(commit string) func() (bool, string) {
		return func() (bool, string) {
			a, err := r.client.App(t.Context(), app)
			if err != nil {
				return false, err.Error()
			}
			for _, s := range a.Workflow {
				if s.Name == "promote" {
					return s.Phase == "succeeded" && strings.Contains(s.Message, "nothing to promote") && strings.Contains(s.Message, commit[:12]), string(s.Phase) + ": " + s.Message
				}
			}
			return false, "no promote step"
		}
	}
	// The head only pins prod: the step has nothing to propose and does
	// not soak.
	eventually(t, soak/2, "the step proposes nothing for the pin commit", promoteStep(c1))
	if prs := openPromotions(); len(prs) != 0 {
		t.Fatalf("a promotion of what prod already holds: %+v", prs)
	}

	c2 := srv.CommitFiles(t, repo, "main", "", map[string]string{"app.yaml": promoteAppfile(app, ns, "v2", soak.String())}, "shop v2")
	r.hook(t)
	eventually(t, 30*time.Second, "v2 in staging, prod pinned to v1", greetings("v2", "v1"))
	soakFrom := time.Now()
	var pr gitea.PR
	eventually(t, soak+40*time.Second, "one promotion pull request after the soak", func() (bool, string) {
		prs := openPromotions()
		if len(prs) == 1 {
			pr = prs[0]
		}
		return len(prs) == 1, fmt.Sprintf("%d open", len(prs))
	})
	if waited := time.Since(soakFrom); waited < soak {
		t.Errorf("the promotion of a new release was proposed %s after staging was healthy, before its soak of %s", waited, soak)
	}
	if !strings.Contains(pr.Title, "Promote "+app+" to prod at "+c2[:12]) || !strings.Contains(pr.Body, "changed `ConfigMap/"+ns+"-prod/"+app+"`") {
		t.Errorf("pull request %q:\n%s", pr.Title, pr.Body)
	}

	// A restart in the middle: the new agent runs the step again and
	// updates the same pull request.
	r.stop(t)
	r = startAgent(t, cfg)
	eventually(t, 60*time.Second, "the restarted agent ran the step", func() (bool, string) {
		a, err := r.client.App(t.Context(), app)
		if err != nil {
			return false, err.Error()
		}
		for _, s := range a.Workflow {
			if s.Name == "promote" {
				return s.Phase == "succeeded" && strings.Contains(s.Message, fmt.Sprintf("#%d", pr.Number)), s.Message
			}
		}
		return false, "no promote step"
	})
	if prs := openPromotions(); len(prs) != 1 || prs[0].Number != pr.Number {
		t.Fatalf("after a restart: %d promotion pull requests open, want #%d only", len(prs), pr.Number)
	}
	// The restarted agent lists the open pull requests: the promotion's
	// gets the diff comment (what it changes in prod) and no preview,
	// though the preview policy admits it. The comment is posted after
	// the previews are taken, so a preview would show by then.
	eventually(t, 60*time.Second, "the diff comment on the promotion pull request", oneDiffComment(t, srv, repo, pr.Number,
		"ConfigMap/"+ns+"-prod/"+app, "No preview: a promotion pull request"))
	previewEnv := fmt.Sprintf("pr-%d", pr.Number)
	if e, err := r.env(app, previewEnv); err == nil {
		t.Errorf("the promotion pull request got a preview: %+v", e)
	}
	if _, err := cs.CoreV1().Namespaces().Get(t.Context(), fmt.Sprintf("%s-pr-%d", app, pr.Number), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the promotion pull request's preview namespace: %v, want not found", err)
	}
	if s := appSummary(t, r, app); strings.Contains(s, previewEnv) {
		t.Errorf("the app lists the promotion's preview: %s", s)
	}

	// Merging the promotion is a commit that changes nothing prod
	// renders but its pin: prod deploys it at once. Prod at v2 before
	// the soak could have passed once since the merge proves the step
	// did not soak again.
	merged := time.Now()
	srv.MergePR(t, repo, pr.Number)
	r.hook(t)
	eventually(t, soak-2*time.Second, "prod promoted to v2 before a second soak could pass", greetings("v2", "v2"))
	t.Logf("prod at the new pin %s after the merge (soakTime %s)", time.Since(merged).Round(100*time.Millisecond), soak)
	e, err := r.env(app, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if e.Pinned != c2 {
		t.Errorf("prod pinned %q, want %s", e.Pinned, c2)
	}
	eventually(t, 10*time.Second, "the step proposes nothing for the merge commit", promoteStep(srv.GetPR(t, repo, pr.Number).MergeCommitSHA))
	if prs := openPromotions(); len(prs) != 0 {
		t.Errorf("the merged promotion proposed another: %+v", prs)
	}

	// A release that fails in staging (the API server refuses a
	// ConfigMap value that is a number) is never proposed: its commit's
	// carina/staging status and the workflow say why.
	fc, err := forge.New(forge.Options{Kind: forge.Gitea, BaseURL: srv.APIURL(), Repo: repo.Owner + "/" + repo.Name, TokenFile: tok})
	if err != nil {
		t.Fatal(err)
	}
	// Its soak is 2s, so that waiting 3s below outlasts it.
	broken := strings.Replace(promoteAppfile(app, ns, "v3", "2s"), `{greeting: "v3"}`, `{greeting: 3}`, 1)
	c3 := srv.CommitFiles(t, repo, "main", "", map[string]string{"app.yaml": broken}, "shop v3, refused by the API server")
	r.hook(t)
	eventually(t, 30*time.Second, "carina/staging failure on the failed release, saying why", func() (bool, string) {
		c, err := fc.CombinedStatus(t.Context(), c3)
		if err != nil {
			return false, err.Error()
		}
		for _, s := range c.Statuses {
			if s.Context == "carina/staging" {
				return s.State == forge.StateFailure && strings.Contains(s.Description, "ConfigMap/"+ns+"-staging/"+app), fmt.Sprintf("%+v", s)
			}
		}
		return false, fmt.Sprintf("no carina/staging in %+v", c.Statuses)
	})
	eventually(t, 30*time.Second, "the workflow waits at deploy-staging, saying why", func() (bool, string) {
		a, err := r.client.App(t.Context(), app)
		if err != nil {
			return false, err.Error()
		}
		for _, s := range a.Workflow {
			if s.Name == "deploy-staging" {
				return s.Phase != "succeeded" && strings.Contains(s.Message, "ConfigMap/"+ns+"-staging/"+app), fmt.Sprintf("%s: %s", s.Phase, s.Message)
			}
		}
		return false, "no deploy-staging step"
	})
	time.Sleep(3 * time.Second) // longer than the soak
	if prs := openPromotions(); len(prs) != 0 {
		t.Errorf("a release that failed in staging was proposed: %+v", prs)
	}
	if ok, got := greetings("v2", "v2")(); !ok {
		t.Errorf("after the failed release: %s, want v2 in both", got)
	}
	_ = c1
}
