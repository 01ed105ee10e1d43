package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/e2e/gitserver"
)

// The pull request the demo opens: a branch that changes the image.
const (
	prNumber  = 1
	prBranch  = "feature/hello-1.2"
	prImage   = "ghcr.io/example/hello:1.2.0-rc.1"
	prEnv     = "pr-1"
	prNS      = "hello-pr-1"
	prCluster = "staging"
	prSA      = "previewer"
)

// openPullRequest pushes a branch that changes the image, and the
// refs/pull/1/head ref a forge keeps for its pull request, to the Git
// server; the stand-in forge lists the pull request as open and the
// demo posts the signed pull_request webhook GitHub would send. The
// agent lists the open pull requests, fetches refs/pull/1/head and
// deploys the pull request's version of the app as environment pr-1.
func (d *demo) openPullRequest(ctx context.Context) error {
	file := filepath.Join(d.work, d.app, "app.yaml")
	d.say("==> a pull request: branch %s sets %s", prBranch, prImage)
	if _, err := gitserver.RunGit(d.work, nil, nil, "checkout", "-q", "-b", prBranch); err != nil {
		return err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(string(data), newImage, prImage)), 0o644); err != nil {
		return err
	}
	var head string
	for _, args := range [][]string{
		{"commit", "-q", "-am", "hello 1.2.0-rc.1"},
		{"push", "-q", "origin", prBranch, fmt.Sprintf("HEAD:refs/pull/%d/head", prNumber)},
		{"rev-parse", "HEAD"},
	} {
		if head, err = gitserver.RunGit(d.work, nil, nil, args...); err != nil {
			return err
		}
	}
	base, err := gitserver.RunGit(d.work, nil, nil, "rev-parse", "main")
	if err != nil {
		return err
	}
	if _, err := gitserver.RunGit(d.work, nil, nil, "checkout", "-q", "main"); err != nil {
		return err
	}
	d.say("    pushed %s and refs/pull/%d/head at %s", prBranch, prNumber, head[:12])
	pr := d.forge.open(prNumber, "hello 1.2.0-rc.1", "ann", prBranch, head, "main", base)
	start := time.Now()
	code, err := d.sendPullRequestHook(ctx, "opened", pr)
	if err != nil {
		return err
	}
	d.say("    PR #%d %q opened (%s -> main); signed GitHub pull_request webhook (opened) sent to %s/hooks/github: %d",
		prNumber, pr.Title, prBranch, d.agentURL, code)
	e, err := d.waitEnv(ctx, prEnv, func(e api.EnvStatus) bool {
		return e.Preview != nil && e.Preview.Head == head && e.Sync == api.SyncSynced && e.Health == api.HealthHealthy
	})
	if err != nil {
		return err
	}
	healthy := time.Since(start)
	d.say("    %s: %s in namespace %s on %s (revision %s)", prEnv, objectsLine(e), e.Namespace, strings.Join(e.Clusters, ","), api.ShortRevision(e.Revision))
	dep, _, err := d.waitDeploymentIn(ctx, prCluster, prNS, prImage)
	if err != nil {
		return err
	}
	d.say("    %s: deployment/%s %d/%d Available, %s; webhook to applied and healthy in %s",
		prEnv, dep.Name, dep.Status.AvailableReplicas, *dep.Spec.Replicas, prImage, healthy.Round(time.Millisecond))
	if err := d.showPreviewNamespace(ctx); err != nil {
		return err
	}
	if err := d.showPreviewStatus(ctx, head); err != nil {
		return err
	}
	for _, c := range d.forge.commentsOn(prNumber) {
		first, _, _ := strings.Cut(strings.TrimSpace(c.Body), "\n")
		d.say("    comment on PR #%d: %s", prNumber, first)
	}
	d.say("==> status while PR #%d is open (as `carina status` prints it)", prNumber)
	apps, err := d.client.Apps(ctx)
	if err != nil {
		return err
	}
	return api.WriteApps(d.out, apps)
}

// showPreviewNamespace prints what `kubectl get` shows in the preview
// namespace: the app's objects and the account the preview runs as.
func (d *demo) showPreviewNamespace(ctx context.Context) error {
	cs := d.kube[prCluster]
	ns, err := cs.CoreV1().Namespaces().Get(ctx, prNS, getOpts)
	if err != nil {
		return err
	}
	var names []string
	list := metav1.ListOptions{}
	deps, err := cs.AppsV1().Deployments(prNS).List(ctx, list)
	if err != nil {
		return err
	}
	for _, o := range deps.Items {
		names = append(names, "deployment/"+o.Name)
	}
	svcs, err := cs.CoreV1().Services(prNS).List(ctx, list)
	if err != nil {
		return err
	}
	for _, o := range svcs.Items {
		names = append(names, "service/"+o.Name)
	}
	sas, err := cs.CoreV1().ServiceAccounts(prNS).List(ctx, list)
	if err != nil {
		return err
	}
	for _, o := range sas.Items {
		if o.Name != "default" {
			names = append(names, "serviceaccount/"+o.Name)
		}
	}
	rbs, err := cs.RbacV1().RoleBindings(prNS).List(ctx, list)
	if err != nil {
		return err
	}
	role := ""
	for _, o := range rbs.Items {
		names = append(names, "rolebinding/"+o.Name)
		role = o.RoleRef.Kind + "/" + o.RoleRef.Name
	}
	slices.Sort(names)
	d.say("    namespace %s (labels preview.carina.dev/app=%s, preview.carina.dev/env=%s): %s",
		prNS, ns.Labels["preview.carina.dev/app"], ns.Labels["preview.carina.dev/env"], strings.Join(names, ", "))
	d.say("    the preview is applied as system:serviceaccount:%s:%s, bound to %s in %s only", prNS, prSA, role, prNS)
	return nil
}

// showPreviewStatus waits for the carina/preview commit status the
// agent posts on the pull request's head, as the forge shows it.
func (d *demo) showPreviewStatus(ctx context.Context, head string) error {
	var st ghStatus
	err := d.poll(ctx, "carina/preview status", 50*time.Millisecond, func() (bool, string, error) {
		var ok bool
		st, ok = d.forge.status(head, "carina/preview")
		return ok && st.State == "success", fmt.Sprintf("%+v", st), nil
	})
	if err != nil {
		return err
	}
	d.say("    commit status on %s: carina/preview %s %q, links to %s", head[:12], st.State, st.Description, st.TargetURL)
	return nil
}

// closePullRequest closes the pull request on the stand-in forge and
// posts the closed webhook; the agent prunes pr-1 and deletes the
// namespace it created.
func (d *demo) closePullRequest(ctx context.Context) error {
	d.say("==> PR #%d is closed: the agent prunes %s and deletes namespace %s", prNumber, prEnv, prNS)
	pr := d.forge.close(prNumber)
	start := time.Now()
	code, err := d.sendPullRequestHook(ctx, "closed", pr)
	if err != nil {
		return err
	}
	d.say("    signed GitHub pull_request webhook (closed) sent: %d", code)
	cs := d.kube[prCluster]
	state := ""
	err = d.poll(ctx, "preview pruned", 50*time.Millisecond, func() (bool, string, error) {
		a, err := d.client.App(ctx, d.app)
		if err != nil {
			return false, err.Error(), nil
		}
		if slices.ContainsFunc(a.Envs, func(e api.EnvStatus) bool { return e.Name == prEnv }) {
			return false, prEnv + " still in the status", nil
		}
		if _, err := cs.AppsV1().Deployments(prNS).Get(ctx, d.app, getOpts); !apierrors.IsNotFound(err) {
			return false, "deployment still there", nil
		}
		if _, err := cs.CoreV1().Services(prNS).Get(ctx, d.app, getOpts); !apierrors.IsNotFound(err) {
			return false, "service still there", nil
		}
		if _, err := cs.CoreV1().ConfigMaps(prNS).Get(ctx, inventory.Name(d.app, prEnv), getOpts); !apierrors.IsNotFound(err) {
			return false, "inventory still there", nil
		}
		ns, err := cs.CoreV1().Namespaces().Get(ctx, prNS, getOpts)
		switch {
		case apierrors.IsNotFound(err):
			state = "deleted"
		case err == nil && ns.DeletionTimestamp != nil:
			state = "terminating"
		default:
			return false, fmt.Sprintf("namespace %s still there (%v)", prNS, err), nil
		}
		return true, "", nil
	})
	if err != nil {
		return err
	}
	d.say("    %s pruned (deployment/%s, service/%s and the inventory %s gone), namespace %s %s, %s after the webhook",
		prEnv, d.app, d.app, inventory.Name(d.app, prEnv), prNS, state, time.Since(start).Round(time.Millisecond))
	return nil
}

// sendPullRequestHook posts the pull_request event GitHub would send for
// pr, signed with the webhook secret.
func (d *demo) sendPullRequestHook(ctx context.Context, action string, pr ghPull) (int, error) {
	repo := &ghRepo{FullName: forgeRepo, CloneURL: d.repoURL}
	pr.Head.Repo, pr.Base.Repo = repo, repo
	return d.postHook(ctx, "pull_request", map[string]any{
		"action": action, "number": pr.Number, "pull_request": pr, "repository": repo,
	})
}
