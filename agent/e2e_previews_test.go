package agent

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/e2e/cluster"
	"github.com/carina-gitops/carina/e2e/gitea"
	"github.com/carina-gitops/carina/source/forge"
)

// previewAppfile is simpleAppfile with a preview policy (at most two
// previews, as a service account bound to edit in the preview
// namespace), extra objects appended to its k8s-objects list, and a
// component of the repository's pr-info definition (prInfoDef).
func previewAppfile(name, ns, greeting, extra string) string {
	return simpleAppfile(name, ns, greeting) + extra + `  prinfo:
    type: pr-info
policies:
  - name: previews
    type: preview
    properties: {maxPreviews: 2, serviceAccount: previewer}
`
}

// prInfoDef is a definition of the app repository that writes
// context.pullRequest.number into a ConfigMap "prinfo", "none" outside
// a preview.
const prInfoDef = `"pr-info": {
	type: "component"
	attributes: workload: definition: {apiVersion: "v1", kind: "ConfigMap"}
}
template: {
	output: {
		apiVersion: "v1"
		kind:       "ConfigMap"
		metadata: name: context.name
		data: {
			if context.pullRequest != _|_ {
				greeting: "\(context.pullRequest.number) \(context.pullRequest.branch)->\(context.pullRequest.base)"
			}
			if context.pullRequest == _|_ {
				greeting: "none"
			}
		}
	}
	parameter: {}
}
`

// previewConfig is an agent config for a Gitea-hosted source with a
// forge section and a Gitea webhook receiver.
func previewConfig(t *testing.T, srv *gitea.Server, repo gitea.Repo, interval string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	tok, err := srv.TokenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	hook, apiTok := filepath.Join(dir, "hook-secret"), filepath.Join(dir, "api-token")
	os.WriteFile(hook, []byte("hook-secret"), 0o600)
	os.WriteFile(apiTok, []byte("api-token"), 0o600)
	text := fmt.Sprintf(`
cacheDir: %s
sources:
  apps:
    - name: apps
      url: %q
      interval: %s
      definitions: .carina/definitions
      auth: {username: %s, passwordFile: %s}
      forge: {kind: gitea, apiURL: %q, tokenFile: %s}
clusters:
  - name: local
    kubeconfig: {file: %s}
webhooks:
  - {provider: gitea, secretFile: %s}
server:
  listen: 127.0.0.1:0
  api: {tokenFile: %s, allowWrites: true}
reconcile: {workers: 4, minBackoff: 200ms, maxBackoff: 5s, stepTimeout: 1m}
leaderElection: {enabled: false}
`, filepath.Join(dir, "cache"), repo.CloneURL, interval, gitea.AdminUser, tok, srv.APIURL(), tok, testCluster.Kubeconfig(), hook, apiTok)
	path := filepath.Join(dir, "carina.yaml")
	os.WriteFile(path, []byte(text), 0o600)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// previewStatus waits for the carina/preview status of sha to be want,
// with a description containing desc.
func previewStatus(t *testing.T, fc *forge.Client, sha string, want forge.State, desc string) func() (bool, string) {
	return func() (bool, string) {
		c, err := fc.CombinedStatus(t.Context(), sha)
		if err != nil {
			return false, err.Error()
		}
		for _, s := range c.Statuses {
			if s.Context == "carina/preview" {
				return s.State == want && strings.Contains(s.Description, desc), fmt.Sprintf("%+v", s)
			}
		}
		return false, fmt.Sprintf("no carina/preview in %+v", c.Statuses)
	}
}

// greetingIs waits for the app's ConfigMap in ns to say want.
func greetingIs(t *testing.T, cs kubernetes.Interface, ns, name, want string) func() (bool, string) {
	return func() (bool, string) {
		got := configMapData(t, cs, ns, name)
		return got == want, fmt.Sprintf("greeting %q in %s", got, ns)
	}
}

// namespaceGone: deleted, or terminating (the local control plane runs
// no namespace controller to finish it).
func namespaceGone(t *testing.T, cs kubernetes.Interface, ns string) func() (bool, string) {
	return func() (bool, string) {
		n, err := cs.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return n.DeletionTimestamp != nil, "namespace " + ns + " still there"
	}
}

// openPR commits the app's Appfile on a new branch and opens a pull
// request of it to main; it returns the PR and its head.
func openPR(t *testing.T, srv *gitea.Server, repo gitea.Repo, branch, file, content string) (gitea.PR, string) {
	t.Helper()
	sha := srv.CommitFiles(t, repo, "main", branch, map[string]string{file: content}, "change on "+branch)
	srv.WaitBranch(t, repo, branch, sha)
	return srv.OpenPR(t, repo, branch, "main", "preview "+branch, ""), sha
}

// TestPreviewsOnGitea: pull requests on a real Gitea get preview
// environments on the real control plane, through Gitea's signed
// webhooks: deployed with the carina/preview status on the head and the
// diff comment, redeployed on a push with the comment edited in place,
// pruned with their namespace on close; the PR beyond maxPreviews waits
// with a status; a PR that writes outside its namespace fails with a
// status and writes nothing (audit log); a PR that Carina's check lets
// through but the API server refuses (as the preview's service account)
// fails with a status that says so; with the webhooks lost (the
// agent was down, then at another address) polling creates and prunes
// previews, and a comment is not posted again after the restart.
func TestPreviewsOnGitea(t *testing.T) {
	_, cs := needCluster(t)
	srv := startGitea(t)
	base := testNS("pv")
	other := base + "-other"
	createNamespaces(t, cs, base, other)
	app := base + "-shop"
	file := app + "/Appfile"
	pns := func(n int) string { return fmt.Sprintf("%s-pr-%d", app, n) }
	repo := srv.CreateRepo(t, app)
	srv.CommitFiles(t, repo, "main", "", map[string]string{file: previewAppfile(app, base, "main", ""),
		".carina/definitions/pr-info.cue": prInfoDef}, "shop with previews")
	fc, err := forge.New(forge.Options{Kind: forge.Gitea, BaseURL: srv.APIURL(), Repo: repo.Owner + "/" + repo.Name, TokenFile: mustToken(t, srv)})
	if err != nil {
		t.Fatal(err)
	}

	r := startAgent(t, previewConfig(t, srv, repo, "1h"))
	srv.AddWebhook(t, repo, r.addr+"/hooks/gitea", "hook-secret", "pull_request", "pull_request_sync")
	eventually(t, 60*time.Second, "main deployed", healthyEnv(r, app, "default"))

	// Open a PR: the webhook deploys it (polling is hourly).
	pr1, head1 := openPR(t, srv, repo, "feature-1", file, previewAppfile(app, base, "pr1-v1", ""))
	t0 := time.Now()
	eventually(t, 30*time.Second, "pr-1 applied", greetingIs(t, cs, pns(pr1.Number), app, "pr1-v1"))
	eventually(t, 30*time.Second, "pr-1 healthy", healthyEnv(r, app, fmt.Sprintf("pr-%d", pr1.Number)))
	t.Logf("measured: PR opened → preview applied and healthy in %s", time.Since(t0).Round(time.Millisecond))
	eventually(t, 30*time.Second, "carina/preview success on the head", previewStatus(t, fc, head1, forge.StateSuccess, "applied and healthy"))
	if got := configMapData(t, cs, base, app); got != "main" {
		t.Errorf("the main env's ConfigMap says %q; a preview must not touch it", got)
	}
	// context.pullRequest: the preview's definition sees its pull
	// request; the main env's does not.
	if got, want := configMapData(t, cs, pns(pr1.Number), "prinfo"), fmt.Sprintf("%d feature-1->main", pr1.Number); got != want {
		t.Errorf("context.pullRequest in the preview wrote %q, want %q", got, want)
	}
	if got := configMapData(t, cs, base, "prinfo"); got != "none" {
		t.Errorf("context.pullRequest outside a preview wrote %q, want none", got)
	}
	ns1, err := cs.CoreV1().Namespaces().Get(t.Context(), pns(pr1.Number), metav1.GetOptions{})
	if err != nil || ns1.Labels[labelPreviewApp] != app {
		t.Fatalf("preview namespace: %v, labels %v", err, ns1.GetLabels())
	}
	// The diff comment: what merging changes in the main env, and what
	// the head changed in the preview (computed before it deployed).
	preview1 := fmt.Sprintf("`%s` · `pr-%d` (this pull request's preview)", app, pr1.Number)
	eventually(t, 30*time.Second, "one diff comment on pr-1", oneDiffComment(t, srv, repo, pr1.Number,
		"what merging #"+fmt.Sprint(pr1.Number)+" would change", "The head `"+head1[:12]+"`",
		"#### `"+app+"` · `default`: 0 created, 1 changed, 0 deleted", "-  greeting: main\n+  greeting: pr1-v1",
		preview1+": 2 created, 0 changed, 0 deleted"))
	comment1 := diffComments(t, srv, repo, pr1.Number)[0]

	// Push to the PR: redeployed at the new head.
	head1b := srv.CommitFiles(t, repo, "feature-1", "", map[string]string{file: previewAppfile(app, base, "pr1-v2", "")}, "v2")
	eventually(t, 30*time.Second, "pr-1 redeployed", greetingIs(t, cs, pns(pr1.Number), app, "pr1-v2"))
	eventually(t, 30*time.Second, "carina/preview success on the new head", previewStatus(t, fc, head1b, forge.StateSuccess, "applied and healthy"))
	eventually(t, 30*time.Second, "the diff comment of pr-1 updated for the new head", oneDiffComment(t, srv, repo, pr1.Number,
		"The head `"+head1b[:12]+"`", "-  greeting: main\n+  greeting: pr1-v2",
		preview1+": 0 created, 1 changed, 0 deleted", "-  greeting: pr1-v1\n+  greeting: pr1-v2"))
	if c := diffComments(t, srv, repo, pr1.Number)[0]; c.ID != comment1.ID {
		t.Errorf("the push made diff comment %d; want %d edited in place", c.ID, comment1.ID)
	}

	// Two more PRs: maxPreviews is 2, the third waits.
	pr2, _ := openPR(t, srv, repo, "feature-2", file, previewAppfile(app, base, "pr2", ""))
	pr3, head3 := openPR(t, srv, repo, "feature-3", file, previewAppfile(app, base, "pr3", ""))
	eventually(t, 30*time.Second, "pr-2 applied", greetingIs(t, cs, pns(pr2.Number), app, "pr2"))
	eventually(t, 30*time.Second, "pr-3 waits with a status", previewStatus(t, fc, head3, forge.StatePending, "maxPreviews"))
	eventually(t, 30*time.Second, "the diff comment of pr-3 says it waits", oneDiffComment(t, srv, repo, pr3.Number,
		"#### `"+app+"` · `default`: 0 created, 1 changed, 0 deleted", "No preview runs: waiting: 2 previews"))
	e3, err := r.env(app, fmt.Sprintf("pr-%d", pr3.Number))
	if err != nil || e3.Preview == nil || !strings.Contains(e3.Preview.Waiting, "maxPreviews") {
		t.Errorf("pr-3 in the status API = %+v, %v; want it waiting for maxPreviews", e3.Preview, err)
	}
	if !strings.Contains(r.metrics(t), `carina_preview_environments{source="apps"} 2`) {
		t.Error("carina_preview_environments does not say 2")
	}
	sum := appSummary(t, r, app)
	if !strings.Contains(sum, fmt.Sprintf("pr-%d", pr1.Number)) {
		t.Errorf("GET /api/v1/apps does not list the preview: %s", sum)
	}

	// Close PR 1: its objects, inventory and namespace go; PR 3 starts.
	srv.ClosePR(t, repo, pr1.Number)
	eventually(t, 30*time.Second, "pr-1 pruned", greetingIs(t, cs, pns(pr1.Number), app, ""))
	eventually(t, 30*time.Second, "pr-1 namespace deleted", namespaceGone(t, cs, pns(pr1.Number)))
	eventually(t, 30*time.Second, "pr-1 inventory deleted", func() (bool, string) {
		_, err := cs.CoreV1().ConfigMaps(pns(pr1.Number)).Get(t.Context(), fmt.Sprintf("carina-inv.%s.pr-%d", app, pr1.Number), metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	eventually(t, 30*time.Second, "pr-3 starts once pr-1 left", greetingIs(t, cs, pns(pr3.Number), app, "pr3"))

	// A PR that writes into another namespace and binds cluster-admin
	// (a ClusterRoleBinding): failure status, and nothing written
	// outside its namespace.
	srv.ClosePR(t, repo, pr2.Number)
	eventually(t, 30*time.Second, "pr-2 namespace deleted", namespaceGone(t, cs, pns(pr2.Number)))
	escape := fmt.Sprintf(`      - apiVersion: v1
        kind: ConfigMap
        metadata: {name: escaped, namespace: %[1]s}
        data: {a: b}
      - apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRoleBinding
        metadata: {name: %[2]s-escalate}
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
        subjects: [{kind: ServiceAccount, name: previewer, namespace: %[2]s}]
`, other, app)
	pr4, head4 := openPR(t, srv, repo, "feature-4", file, previewAppfile(app, base, "pr4", escape))
	eventually(t, 30*time.Second, "pr-4 fails with a status", previewStatus(t, fc, head4, forge.StateFailure, "writes only into namespace"))
	if got := configMapData(t, cs, pns(pr4.Number), app); got != "" {
		t.Errorf("the refused preview applied its own ConfigMap too: %q", got)
	}
	events, err := testCluster.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	// The diff comment dry-runs the main env's objects (the escaped
	// ConfigMap among them): a dry-run writes nothing.
	for _, ev := range cluster.Select(events, cluster.Filter{Namespace: other, Writes: true, Resource: "configmaps"}) {
		if ev.ObjectRef.Name == "escaped" && !isDryRun(ev.RequestURI) {
			t.Errorf("%s of ConfigMap %s/escaped by %s; want none", ev.Verb, other, ev.User.Username)
		}
	}
	for _, ev := range cluster.Select(events, cluster.Filter{Writes: true, Resource: "clusterrolebindings"}) {
		if ev.ObjectRef.Name == app+"-escalate" && !isDryRun(ev.RequestURI) {
			t.Errorf("%s of ClusterRoleBinding %s-escalate by %s; want none", ev.Verb, app, ev.User.Username)
		}
	}
	eventually(t, 30*time.Second, "the diff comment of pr-4 says why its preview is refused", oneDiffComment(t, srv, repo, pr4.Number,
		fmt.Sprintf("`%s` · `pr-%d` (this pull request's preview): cannot be compared", app, pr4.Number), "writes only into namespace",
		"- created `ConfigMap/"+other+"/escaped`"))
	comment4 := diffComments(t, srv, repo, pr4.Number)[0]

	// Webhooks lost: the agent stops, a PR opens, a new agent (at
	// another address, which the hook does not reach) finds it by
	// polling, and prunes it by polling once it closes.
	// PR 4 stays open across the restart: its diff comment is found by
	// its marker and left as it is (same head, same apps), not posted
	// again.
	r.stop(t)
	srv.ClosePR(t, repo, pr3.Number)
	pr5, _ := openPR(t, srv, repo, "feature-5", file, previewAppfile(app, base, "pr5", ""))
	r2 := startAgent(t, previewConfig(t, srv, repo, "2s"))
	eventually(t, 60*time.Second, "pr-5 created by polling", greetingIs(t, cs, pns(pr5.Number), app, "pr5"))
	eventually(t, 30*time.Second, "pr-3 closed while no agent ran: pruned", namespaceGone(t, cs, pns(pr3.Number)))
	eventually(t, 30*time.Second, "one diff comment on pr-5", oneDiffComment(t, srv, repo, pr5.Number, "-  greeting: main\n+  greeting: pr5"))
	if got := diffComments(t, srv, repo, pr4.Number); len(got) != 1 || got[0].ID != comment4.ID || got[0].Body != comment4.Body || !got[0].Updated.Equal(comment4.Updated) {
		t.Errorf("after a restart pr-4 has diff comments %+v; want comment %d untouched", got, comment4.ID)
	}

	// A PR that passes Carina's own check (everything in its namespace)
	// but writes what its service account may not (a ResourceQuota:
	// edit may read quotas, not write them): the API server refuses it,
	// as the preview's account.
	srv.ClosePR(t, repo, pr4.Number)
	quota := `      - apiVersion: v1
        kind: ResourceQuota
        metadata: {name: sneaky}
        spec: {hard: {pods: "1000"}}
`
	pr6, head6 := openPR(t, srv, repo, "feature-6", file, previewAppfile(app, base, "pr6", quota))
	eventually(t, 60*time.Second, "pr-6 fails with a status from the API server", previewStatus(t, fc, head6, forge.StateFailure, "forbidden"))
	sa6 := "system:serviceaccount:" + pns(pr6.Number) + ":previewer"
	if _, err := cs.CoreV1().ResourceQuotas(pns(pr6.Number)).Get(t.Context(), "sneaky", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ResourceQuota %s/sneaky: %v; want it never created", pns(pr6.Number), err)
	}
	if got := configMapData(t, cs, pns(pr6.Number), app); got != "" {
		t.Errorf("the refused preview applied its ConfigMap: %q", got)
	}
	if events, err = testCluster.AuditEvents(); err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, ev := range cluster.Select(events, cluster.Filter{Namespace: pns(pr6.Number), Resource: "resourcequotas", Writes: true}) {
		switch {
		case ev.ResponseStatus != nil && ev.ResponseStatus.Code == 403 && ev.ImpersonatedUser != nil && ev.ImpersonatedUser.Username == sa6:
			refused++
		case ev.ResponseStatus != nil && ev.ResponseStatus.Code < 300 && !isDryRun(ev.RequestURI):
			t.Errorf("%s of ResourceQuota %s by %s answered %d; want none", ev.Verb, ev.ObjectRef.Name, ev.User.Username, ev.ResponseStatus.Code)
		}
	}
	if refused == 0 {
		t.Errorf("the audit log has no write of a ResourceQuota refused (403) for %s", sa6)
	}
	eventually(t, 30*time.Second, "the diff comment of pr-6 shows the refusal", oneDiffComment(t, srv, repo, pr6.Number,
		fmt.Sprintf("`%s` · `pr-%d` (this pull request's preview)", app, pr6.Number), "forbidden"))

	srv.ClosePR(t, repo, pr5.Number)
	srv.ClosePR(t, repo, pr6.Number)
	eventually(t, 30*time.Second, "pr-5 pruned by polling", namespaceGone(t, cs, pns(pr5.Number)))
	eventually(t, 30*time.Second, "pr-6 namespace deleted", namespaceGone(t, cs, pns(pr6.Number)))
	eventually(t, 30*time.Second, "no preview left in the status", func() (bool, string) {
		s := appSummary(t, r2, app)
		return !strings.Contains(s, "pr-"), s
	})
}

// prComment is a pull request comment as Gitea lists it.
type prComment struct {
	ID      int64     `json:"id"`
	Body    string    `json:"body"`
	Updated time.Time `json:"updated_at"`
}

// diffComments lists the comments of pull request number that carry the
// diff comment's marker.
func diffComments(t *testing.T, srv *gitea.Server, repo gitea.Repo, number int) []prComment {
	t.Helper()
	var all, out []prComment
	if _, err := srv.Do(t.Context(), http.MethodGet, fmt.Sprintf("/repos/%s/issues/%d/comments", repo.FullName, number), nil, &all); err != nil {
		t.Fatal(err)
	}
	for _, c := range all {
		if strings.Contains(c.Body, forge.Marker(commentKey)) {
			out = append(out, c)
		}
	}
	return out
}

// oneDiffComment waits for pull request number to have exactly one diff
// comment, which says every one of want.
func oneDiffComment(t *testing.T, srv *gitea.Server, repo gitea.Repo, number int, want ...string) func() (bool, string) {
	return func() (bool, string) {
		cs := diffComments(t, srv, repo, number)
		if len(cs) != 1 {
			return false, fmt.Sprintf("%d diff comments: %+v", len(cs), cs)
		}
		for _, w := range want {
			if !strings.Contains(cs[0].Body, w) {
				return false, fmt.Sprintf("the comment lacks %q:\n%s", w, cs[0].Body)
			}
		}
		return true, ""
	}
}

func mustToken(t *testing.T, srv *gitea.Server) string {
	t.Helper()
	tok, err := srv.TokenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// appSummary is the app's line of GET /api/v1/apps, as text.
func appSummary(t *testing.T, r *running, app string) string {
	t.Helper()
	apps, err := r.client.Apps(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range apps {
		if a.Name == app {
			return fmt.Sprintf("%+v", a)
		}
	}
	return "no app " + app
}
