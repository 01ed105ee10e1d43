package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/e2e/gitserver"
	"github.com/carina-gitops/carina/e2e/walkthrough"
)

const (
	gateStep = "promote-to-prod"
	oldImage = "ghcr.io/example/hello:1.0.0"
	newImage = "ghcr.io/example/hello:1.1.0"
)

// showStaging waits for the first deploy to staging: the objects the
// agent applied, then the Deployment Available.
func (d *demo) showStaging(ctx context.Context) error {
	d.say("==> the agent fetches the repo, renders %s and deploys the staging environment", d.app)
	e, err := d.waitEnv(ctx, "staging", func(e api.EnvStatus) bool { return e.Sync == api.SyncSynced })
	if err != nil {
		return err
	}
	d.say("    staging: %s (revision %s)", objectsLine(e), api.ShortRevision(e.Revision))
	dep, took, err := d.waitDeployment(ctx, "staging", oldImage)
	if err != nil {
		return err
	}
	d.say("    staging: deployment/%s %d/%d Available, %s (%s after the apply)", dep.Name, dep.Status.AvailableReplicas, *dep.Spec.Replicas, oldImage, took)
	return nil
}

// showGate waits for the workflow's suspend step and checks that prod is
// untouched.
func (d *demo) showGate(ctx context.Context) error {
	if _, err := d.waitGate(ctx, ""); err != nil {
		return err
	}
	if _, err := d.kube["prod"].AppsV1().Deployments("hello-prod").Get(ctx, d.app, getOpts); err == nil {
		return fmt.Errorf("prod has deployment/%s before the gate was resumed", d.app)
	}
	d.say("==> gate: workflow step %s is suspended; prod has nothing yet", gateStep)
	d.say("    (a person runs `carina resume %s`; the demo does it itself)", d.app)
	if !d.opts.Exit {
		return sleep(ctx, 3*time.Second)
	}
	return nil
}

// resumeToProd resumes the gate through the API, as `carina resume`
// does, and waits for prod with its override.
func (d *demo) resumeToProd(ctx context.Context) error {
	if err := d.resume(ctx); err != nil {
		return err
	}
	e, err := d.waitEnv(ctx, "prod", func(e api.EnvStatus) bool { return e.Sync == api.SyncSynced })
	if err != nil {
		return err
	}
	d.say("    prod: %s (revision %s)", objectsLine(e), api.ShortRevision(e.Revision))
	return d.showProd(ctx, oldImage)
}

func (d *demo) showProd(ctx context.Context, image string) error {
	dep, took, err := d.waitDeployment(ctx, "prod", image)
	if err != nil {
		return err
	}
	st, err := d.kube["staging"].AppsV1().Deployments("hello-staging").Get(ctx, d.app, getOpts)
	if err != nil {
		return err
	}
	d.say("    prod: deployment/%s %d/%d Available, %s (%s after the apply)", dep.Name, dep.Status.AvailableReplicas, *dep.Spec.Replicas, image, took)
	d.say("    prod override applied: %d replicas in prod, %d in staging", *dep.Spec.Replicas, *st.Spec.Replicas)
	return nil
}

func (d *demo) resume(ctx context.Context) error {
	res, err := d.client.Resume(ctx, d.app)
	if err != nil {
		return err
	}
	d.say("==> resume: POST %s/api/v1/apps/%s/resume (what `carina resume %s` does): %s", d.agentURL, d.app, d.app, res.Message)
	return nil
}

// commitAndWebhook commits a new image tag with git, pushes it, sends the
// signed push webhook a forge would send, and measures commit to applied.
func (d *demo) commitAndWebhook(ctx context.Context) error {
	file := filepath.Join(d.work, d.app, "app.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if !strings.Contains(string(data), oldImage) {
		return fmt.Errorf("%s: no %s to change", file, oldImage)
	}
	d.say("==> a commit: %s -> %s in %s/app.yaml", oldImage, newImage, d.app)
	start := time.Now()
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(string(data), oldImage, newImage)), 0o644); err != nil {
		return err
	}
	var sha string
	for _, args := range [][]string{{"commit", "-q", "-am", "hello 1.1.0"}, {"push", "-q", "origin", "main"}, {"rev-parse", "HEAD"}} {
		if sha, err = gitserver.RunGit(d.work, nil, nil, args...); err != nil {
			return err
		}
	}
	code, err := d.sendWebhook(ctx, sha)
	if err != nil {
		return err
	}
	d.say("    commit %s pushed; signed GitHub push webhook sent to %s/hooks/github: %d", sha[:12], d.agentURL, code)
	applied, err := d.waitImage(ctx, "staging", newImage)
	if err != nil {
		return err
	}
	appliedIn := applied.Sub(start)
	dep, _, err := d.waitDeployment(ctx, "staging", newImage)
	if err != nil {
		return err
	}
	d.say("    staging: redeployed %s, commit to applied in %s (Available after %s)", newImage,
		appliedIn.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	d.say("    staging: deployment/%s %d/%d Available", dep.Name, dep.Status.AvailableReplicas, *dep.Spec.Replicas)
	return nil
}

// promoteAgain: the new release stops at the gate too; the demo resumes
// it and prod gets the new image with its override.
func (d *demo) promoteAgain(ctx context.Context) error {
	head, err := gitserver.RunGit(d.work, nil, nil, "rev-parse", "HEAD")
	if err != nil {
		return err
	}
	if _, err := d.waitGate(ctx, head); err != nil {
		return err
	}
	d.say("==> gate: the new release waits at %s again; prod still runs %s", gateStep, oldImage)
	if err := d.resume(ctx); err != nil {
		return err
	}
	return d.showProd(ctx, newImage)
}

// undoEdit runs a real `kubectl edit` on prod (the editor is sed,
// scaling the Deployment down to 1) and waits for the agent's drift
// watcher to put Git's replicas back.
func (d *demo) undoEdit(ctx context.Context) error {
	c := d.clusters["prod"]
	ns := "hello-prod"
	before, err := d.kube["prod"].AppsV1().Deployments(ns).Get(ctx, d.app, getOpts)
	if err != nil {
		return err
	}
	want := *before.Spec.Replicas
	d.say("==> drift: someone runs `kubectl edit deployment/%s -n %s` in prod and sets replicas: %d -> 1", d.app, ns, want)
	cmd := exec.CommandContext(ctx, c.Binaries().Kubectl, "--kubeconfig", c.Kubeconfig(), "edit", "-n", ns, "deployment/"+d.app)
	cmd.Env = append(os.Environ(), fmt.Sprintf(`KUBE_EDITOR=sed -i -e 's/^  replicas: %d$/  replicas: 1/'`, want))
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kubectl edit: %v: %s", err, out)
	}
	d.say("    kubectl: %s", "deployment.apps/"+d.app+" edited")
	err = d.poll(ctx, "replicas back", 20*time.Millisecond, func() (bool, string, error) {
		dep, err := d.kube["prod"].AppsV1().Deployments(ns).Get(ctx, d.app, getOpts)
		if err != nil {
			return false, "", err
		}
		return *dep.Spec.Replicas == want, fmt.Sprintf("replicas %d", *dep.Spec.Replicas), nil
	})
	if err != nil {
		return err
	}
	d.say("    prod: the agent saw the edit and put replicas back to %d, %s after kubectl returned",
		want, time.Since(start).Round(time.Millisecond))
	return nil
}

// showStatusTable prints what `carina status` prints, once both
// environments are Synced and Healthy.
func (d *demo) showStatusTable(ctx context.Context) error {
	for _, env := range envNames {
		if _, err := d.waitEnv(ctx, env, func(e api.EnvStatus) bool {
			return e.Sync == api.SyncSynced && e.Health == api.HealthHealthy
		}); err != nil {
			return err
		}
	}
	apps, err := d.client.Apps(ctx)
	if err != nil {
		return err
	}
	d.say("==> status (as `carina status` prints it)")
	return api.WriteApps(d.out, apps)
}

// printWhere says where to look while everything runs.
func (d *demo) printWhere() {
	kubectl := d.clusters["staging"].Binaries().Kubectl
	d.say("\nWhere to look:")
	d.say("  status API   %s/api/v1/apps (bearer token in %s)", d.agentURL, filepath.Join(d.dir, "api-token"))
	d.say("  metrics      %s/metrics", d.agentURL)
	wd, _ := os.Getwd()
	d.say("  carina       CARINA_SERVER=%s CARINA_TOKEN=$(cat %s) %s status %s", d.agentURL, filepath.Join(d.dir, "api-token"), carinaCommand(wd), d.app)
	for _, env := range envNames {
		d.say("  %-12s %s --kubeconfig %s get deploy,pods,svc -n hello-%s", env, kubectl, d.clusters[env].Kubeconfig(), env)
	}
	d.say("  forge        %s/repos/%s/pulls (bearer token in %s; a stand-in for GitHub's pull request and status API)", d.forge.url, forgeRepo, filepath.Join(d.dir, "forge-token"))
	d.say("  agent log    %s", d.logPath)
	d.say("  Git          %s (work tree %s; commit and `git push`: the agent polls every minute)", d.repoURL, d.work)
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

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// carinaCommand is how to run carina from the repository root: the
// binary `make demo` built, by its absolute path, or `go run`.
func carinaCommand(root string) string { return walkthrough.CarinaCommand(root) }
