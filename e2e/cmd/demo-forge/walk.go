package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/e2e/gitea"
	"github.com/carina-gitops/carina/e2e/walkthrough"
	"github.com/carina-gitops/carina/source/forge"
)

const (
	image1 = "ghcr.io/acme/shop:1.0.0"
	image2 = "ghcr.io/acme/shop:1.1.0"
	branch = "feature/shop-1.1"
)

var getOpts = metav1.GetOptions{}

// firstDeploy waits for the first load: staging deploys the head, prod
// its pin.
func (d *demo) firstDeploy(ctx context.Context) error {
	d.step("the agent fetches the repository: staging deploys the head of main, prod its pin")
	start := time.Now()
	for _, env := range clusterNames {
		e, err := d.waitEnv(ctx, env, func(e api.EnvStatus) bool { return e.Sync == api.SyncSynced && e.Health == api.HealthHealthy })
		if err != nil {
			return err
		}
		dep, err := d.waitDeployment(ctx, env, app+"-"+env, image1)
		if err != nil {
			return err
		}
		pin := ""
		if e.Pinned != "" {
			pin = ", pinned to " + e.Pinned[:12]
		}
		d.say("    %-7s %s; deployment/%s %d/%d Available, %s (revision %s%s), %s after the agent started",
			env+":", objectsLine(e), dep.Name, dep.Status.AvailableReplicas, *dep.Spec.Replicas, image1,
			api.ShortRevision(e.Revision), pin, time.Since(start).Round(time.Millisecond))
	}
	return d.showStatusTable(ctx)
}

// openPullRequest: the developer pushes a branch that changes the image
// and opens a pull request; the agent deploys it as a preview.
func (d *demo) openPullRequest(ctx context.Context) error {
	d.step("%s opens a pull request: branch %s sets %s", developer, branch, image2)
	files, err := readExample(d.opts.AppDir)
	if err != nil {
		return err
	}
	changed := strings.ReplaceAll(files[appFile], image1, image2)
	head, err := d.gitea.Commit(ctx, d.repo, "main", branch, map[string]string{appFile: changed}, "shop 1.1.0")
	if err != nil {
		return err
	}
	start := time.Now()
	pr, err := d.gitea.OpenPullRequest(ctx, d.ann.Token, d.repo, branch, "main", "shop 1.1.0", "Bumps the image to 1.1.0.")
	if err != nil {
		return err
	}
	d.prURLs = append(d.prURLs, pr.HTMLURL)
	d.preview = pr
	env, ns := fmt.Sprintf("pr-%d", pr.Number), fmt.Sprintf("%s-pr-%d", app, pr.Number)
	d.say("    PR #%d %q by %s: %s (head %s)", pr.Number, pr.Title, pr.User.Login, pr.HTMLURL, head[:12])
	e, err := d.waitEnv(ctx, env, func(e api.EnvStatus) bool {
		return e.Preview != nil && e.Preview.Head == head && e.Sync == api.SyncSynced && e.Health == api.HealthHealthy
	})
	if err != nil {
		return err
	}
	took := time.Since(start)
	dep, err := d.waitDeployment(ctx, "staging", ns, image2)
	if err != nil {
		return err
	}
	d.say("    %s: %s in namespace %s on %s (revision %s)", env, objectsLine(e), e.Namespace, strings.Join(e.Clusters, ","), api.ShortRevision(e.Revision))
	d.say("    %s: deployment/%s %d/%d Available, %s; pull request opened to preview applied and healthy in %s",
		env, dep.Name, dep.Status.AvailableReplicas, *dep.Spec.Replicas, image2, took.Round(time.Millisecond))
	if err := d.showNamespace(ctx, "staging", ns); err != nil {
		return err
	}
	st, err := d.waitStatus(ctx, head, "carina/preview", forge.StateSuccess)
	if err != nil {
		return err
	}
	d.say("    Gitea, PR #%d, checks: carina/preview %s %q, details %s", pr.Number, st.State, st.Description, st.TargetURL)
	comments, err := d.comments(ctx, pr.Number)
	if err != nil {
		return err
	}
	for _, c := range comments {
		first, _, _ := strings.Cut(strings.TrimSpace(c.Body), "\n")
		d.say("    Gitea, PR #%d, comment by %s: %s", pr.Number, c.User.Login, first)
	}
	return d.showStatusTable(ctx)
}

// mergePullRequest: the maintainer merges the pull request. The merge is
// a push to main: staging deploys it and the preview is pruned; prod
// stays at its pin.
func (d *demo) mergePullRequest(ctx context.Context) error {
	pr := d.preview
	env, ns := fmt.Sprintf("pr-%d", pr.Number), fmt.Sprintf("%s-pr-%d", app, pr.Number)
	d.step("%s merges PR #%d: staging deploys it, the preview is pruned, prod stays at its pin", gitea.AdminUser, pr.Number)
	start := time.Now()
	if err := d.gitea.MergePullRequest(ctx, d.repo, pr.Number); err != nil {
		return err
	}
	merged, err := d.gitea.PullRequest(ctx, d.repo, pr.Number)
	if err != nil {
		return err
	}
	d.release = merged.MergeCommitSHA
	d.say("    merge commit %s on main", d.release[:12])
	if err := d.waitImage(ctx, "staging", app+"-staging", image2); err != nil {
		return err
	}
	applied := time.Since(start)
	if _, err := d.waitEnv(ctx, "staging", func(e api.EnvStatus) bool {
		return strings.Contains(e.Revision, d.release) && e.Sync == api.SyncSynced && e.Health == api.HealthHealthy
	}); err != nil {
		return err
	}
	d.stagingHealthy = time.Now()
	dep, err := d.waitDeployment(ctx, "staging", app+"-staging", image2)
	if err != nil {
		return err
	}
	d.say("    staging: deployment/%s %d/%d Available, %s; merge to applied in %s, healthy after %s",
		dep.Name, dep.Status.AvailableReplicas, *dep.Spec.Replicas, image2, applied.Round(time.Millisecond), d.stagingHealthy.Sub(start).Round(time.Millisecond))
	state := ""
	err = walkthrough.Poll(ctx, d.opts.StepTimeout, 50*time.Millisecond, "preview pruned", func() (bool, string, error) {
		a, err := d.client.App(ctx, app)
		if err != nil {
			return false, err.Error(), nil
		}
		if slices.ContainsFunc(a.Envs, func(e api.EnvStatus) bool { return e.Name == env }) {
			return false, env + " still in the status", nil
		}
		n, err := d.kube["staging"].CoreV1().Namespaces().Get(ctx, ns, getOpts)
		switch {
		case apierrors.IsNotFound(err):
			state = "deleted"
		case err == nil && n.DeletionTimestamp != nil:
			state = "terminating"
		default:
			return false, "namespace " + ns + " still there", nil
		}
		return true, "", nil
	})
	if err != nil {
		return err
	}
	d.say("    %s: pruned, namespace %s %s, %s after the merge", env, ns, state, time.Since(start).Round(time.Millisecond))
	e, err := d.client.Env(ctx, app, "prod")
	if err != nil {
		return err
	}
	d.say("    prod: still %s, pinned to %s", image1, e.Pinned[:12])
	return nil
}

// awaitPromotion: once staging has been healthy at the release for the
// soak time, the agent's promote step opens the pull request that pins
// prod to it.
func (d *demo) awaitPromotion(ctx context.Context) error {
	d.step("promote-prod: staging must stay healthy for its soakTime, then the agent opens the promotion pull request")
	head := "carina/promote/" + app + "-prod"
	var pr gitea.PR
	soaking := ""
	err := walkthrough.Poll(ctx, d.opts.StepTimeout, 100*time.Millisecond, "promotion pull request", func() (bool, string, error) {
		if soaking == "" {
			if a, err := d.client.App(ctx, app); err == nil {
				for _, s := range a.Workflow {
					if s.Name == "promote-prod" && strings.Contains(s.Message, "soaking") {
						soaking = s.Message
						d.say("    workflow: promote-prod %s: %s", s.Phase, s.Message)
					}
				}
			}
		}
		prs, err := d.gitea.PullRequests(ctx, d.repo, "open")
		if err != nil {
			return false, err.Error(), nil
		}
		for _, p := range prs {
			if p.Head.Ref == head {
				pr = p
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("%d open pull requests, none from %s", len(prs), head), nil
	})
	if err != nil {
		return err
	}
	d.promotion = pr
	d.prURLs = append(d.prURLs, pr.HTMLURL)
	d.say("    Gitea: PR #%d %q by %s from %s, %s after staging was healthy: %s",
		pr.Number, pr.Title, pr.User.Login, head, time.Since(d.stagingHealthy).Round(time.Millisecond), pr.HTMLURL)
	for l := range strings.SplitSeq(strings.TrimSpace(pr.Body), "\n") {
		d.say("    | %s", l)
	}
	return walkthrough.Poll(ctx, d.opts.StepTimeout, 50*time.Millisecond, "promote-prod succeeded", func() (bool, string, error) {
		a, err := d.client.App(ctx, app)
		if err != nil {
			return false, err.Error(), nil
		}
		for _, s := range a.Workflow {
			if s.Name == "promote-prod" && s.Phase == api.StepSucceeded && strings.Contains(s.Message, fmt.Sprintf("#%d", pr.Number)) {
				d.say("    workflow: promote-prod %s: %s", s.Phase, s.Message)
				return true, "", nil
			}
		}
		return false, "promote-prod not succeeded yet", nil
	})
}

// mergePromotion: the maintainer merges the promotion pull request; prod
// deploys the revision it pins.
func (d *demo) mergePromotion(ctx context.Context) error {
	pr := d.promotion
	d.step("%s merges the promotion PR #%d: prod deploys the pinned revision", gitea.AdminUser, pr.Number)
	start := time.Now()
	if err := d.gitea.MergePullRequest(ctx, d.repo, pr.Number); err != nil {
		return err
	}
	if err := d.waitImage(ctx, "prod", app+"-prod", image2); err != nil {
		return err
	}
	applied := time.Since(start)
	e, err := d.waitEnv(ctx, "prod", func(e api.EnvStatus) bool {
		return e.Pinned == d.release && e.Sync == api.SyncSynced && e.Health == api.HealthHealthy
	})
	if err != nil {
		return err
	}
	dep, err := d.waitDeployment(ctx, "prod", app+"-prod", image2)
	if err != nil {
		return err
	}
	d.say("    prod: deployment/%s %d/%d Available, %s, pinned to %s (revision %s); merge to applied in %s, healthy after %s",
		dep.Name, dep.Status.AvailableReplicas, *dep.Spec.Replicas, image2, e.Pinned[:12], api.ShortRevision(e.Revision),
		applied.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	for _, ctxName := range []string{"carina/staging", "carina/prod"} {
		st, err := d.waitStatus(ctx, d.release, ctxName, forge.StateSuccess)
		if err != nil {
			return err
		}
		d.say("    Gitea, commit %s: %s %s %q, details %s", d.release[:12], ctxName, st.State, st.Description, st.TargetURL)
	}
	return d.showStatusTable(ctx)
}

// showStatusTable prints what `carina status` prints.
func (d *demo) showStatusTable(ctx context.Context) error {
	apps, err := d.client.Apps(ctx)
	if err != nil {
		return err
	}
	d.say("    carina status:")
	var b strings.Builder
	if err := api.WriteApps(&b, apps); err != nil {
		return err
	}
	for l := range strings.SplitSeq(strings.TrimRight(b.String(), "\n"), "\n") {
		d.say("      %s", strings.TrimRight(l, " "))
	}
	return nil
}

// showNamespace prints what `kubectl get` shows in a preview namespace.
func (d *demo) showNamespace(ctx context.Context, cluster, ns string) error {
	cs := d.kube[cluster]
	var names []string
	deps, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, o := range deps.Items {
		names = append(names, "deployment/"+o.Name)
	}
	svcs, err := cs.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, o := range svcs.Items {
		names = append(names, "service/"+o.Name)
	}
	sas, err := cs.CoreV1().ServiceAccounts(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, o := range sas.Items {
		if o.Name != "default" {
			names = append(names, "serviceaccount/"+o.Name)
		}
	}
	rbs, err := cs.RbacV1().RoleBindings(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, o := range rbs.Items {
		names = append(names, fmt.Sprintf("rolebinding/%s (%s/%s)", o.Name, o.RoleRef.Kind, o.RoleRef.Name))
	}
	slices.Sort(names)
	d.say("    kubectl get -n %s: %s", ns, strings.Join(names, ", "))
	return nil
}

// waitEnv polls the agent's API until the environment satisfies ok.
func (d *demo) waitEnv(ctx context.Context, env string, ok func(api.EnvStatus) bool) (api.EnvStatus, error) {
	var e api.EnvStatus
	err := walkthrough.Poll(ctx, d.opts.StepTimeout, 50*time.Millisecond, "environment "+env, func() (bool, string, error) {
		var err error
		if e, err = d.client.Env(ctx, app, env); err != nil {
			return false, err.Error(), nil
		}
		last := fmt.Sprintf("%s %s at %s", e.Sync, e.Health, e.Revision)
		if e.LastError != nil {
			last += ": " + e.LastError.Message
		}
		return ok(e), last, nil
	})
	return e, err
}

// waitImage polls until the Deployment in ns runs image (applied, not
// necessarily rolled out).
func (d *demo) waitImage(ctx context.Context, cluster, ns, image string) error {
	return walkthrough.Poll(ctx, d.opts.StepTimeout, 20*time.Millisecond, "image in "+ns, func() (bool, string, error) {
		dep, err := d.kube[cluster].AppsV1().Deployments(ns).Get(ctx, component, getOpts)
		if err != nil {
			return false, err.Error(), nil
		}
		got := dep.Spec.Template.Spec.Containers[0].Image
		return got == image, got, nil
	})
}

// waitDeployment waits until the Deployment in ns runs image and is
// Available.
func (d *demo) waitDeployment(ctx context.Context, cluster, ns, image string) (*appsv1.Deployment, error) {
	var dep *appsv1.Deployment
	err := walkthrough.Poll(ctx, d.opts.StepTimeout, 100*time.Millisecond, "deployment/"+component+" in "+ns, func() (bool, string, error) {
		var err error
		if dep, err = d.kube[cluster].AppsV1().Deployments(ns).Get(ctx, component, getOpts); err != nil {
			return false, err.Error(), nil
		}
		ok := dep.Spec.Template.Spec.Containers[0].Image == image && walkthrough.Available(dep)
		return ok, fmt.Sprintf("%d/%d available", dep.Status.AvailableReplicas, *dep.Spec.Replicas), nil
	})
	return dep, err
}

// waitStatus waits until Gitea shows the commit status context of sha in
// state want.
func (d *demo) waitStatus(ctx context.Context, sha, context string, want forge.State) (forge.Status, error) {
	var got forge.Status
	err := walkthrough.Poll(ctx, d.opts.StepTimeout, 100*time.Millisecond, context+" on "+sha[:12], func() (bool, string, error) {
		c, err := d.forge.CombinedStatus(ctx, sha)
		if err != nil {
			return false, err.Error(), nil
		}
		for _, s := range c.Statuses {
			if s.Context == context {
				got = s
				return s.State == want, fmt.Sprintf("%s %q", s.State, s.Description), nil
			}
		}
		return false, "no status " + context, nil
	})
	return got, err
}

// comment is a pull request comment as Gitea lists it.
type comment struct {
	Body string `json:"body"`
	User struct {
		Login string `json:"login"`
	} `json:"user"`
}

// comments lists the comments of pull request number.
func (d *demo) comments(ctx context.Context, number int) ([]comment, error) {
	var out []comment
	_, err := d.gitea.Do(ctx, http.MethodGet, fmt.Sprintf("/repos/%s/issues/%d/comments", d.repo.FullName, number), nil, &out)
	return out, err
}

func objectsLine(e api.EnvStatus) string {
	var parts []string
	for _, c := range e.Components {
		for _, o := range c.Objects {
			parts = append(parts, fmt.Sprintf("%s/%s %s", o.Kind, o.Name, o.Action))
		}
	}
	if len(parts) == 0 {
		return "no objects"
	}
	return strings.Join(parts, ", ")
}

// printWhere says where to look while everything runs.
func (d *demo) printWhere() {
	kubectl := d.clusters["staging"].Binaries().Kubectl
	d.say("\nWhere to look:")
	d.say("  Gitea        %s (log in as %s / %s)", d.gitea.URL, gitea.AdminUser, gitea.AdminPassword)
	d.say("  repository   %s", d.repo.HTMLURL)
	for _, u := range d.prURLs {
		d.say("  pull request %s", u)
	}
	d.say("  status API   %s/api/v1/apps/%s (bearer token in %s/api-token)", d.agent.URL, app, d.dir)
	wd, _ := os.Getwd()
	d.say("  carina       CARINA_SERVER=%s CARINA_TOKEN=$(cat %s/api-token) %s status %s", d.agent.URL, d.dir, walkthrough.CarinaCommand(wd), app)
	for _, c := range clusterNames {
		d.say("  %-12s %s --kubeconfig %s get deploy,pods,svc -n %s-%s", c, kubectl, d.clusters[c].Kubeconfig(), app, c)
	}
	d.say("  agent log    %s", d.logPath)
}
