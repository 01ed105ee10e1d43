package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/e2e/walkthrough"
	"github.com/carina-gitops/carina/source/webhook"
)

var getOpts = metav1.GetOptions{}

// poll calls check every interval until it is done, fails, or the step
// timeout passes; last describes the state for the timeout error.
func (d *demo) poll(ctx context.Context, what string, every time.Duration, check func() (done bool, last string, err error)) error {
	return walkthrough.Poll(ctx, d.opts.StepTimeout, every, what, check)
}

// waitEnv polls the agent's API until the environment satisfies ok.
func (d *demo) waitEnv(ctx context.Context, env string, ok func(api.EnvStatus) bool) (api.EnvStatus, error) {
	var e api.EnvStatus
	err := d.poll(ctx, "environment "+env, 100*time.Millisecond, func() (bool, string, error) {
		var err error
		if e, err = d.client.Env(ctx, d.app, env); err != nil {
			return false, err.Error(), nil
		}
		last := fmt.Sprintf("%s %s", e.Sync, e.Health)
		if e.LastError != nil {
			last += ": " + e.LastError.Message
		}
		return ok(e), last, nil
	})
	return e, err
}

// waitGate polls until the gate step is suspended, at the given source
// commit when it is set.
func (d *demo) waitGate(ctx context.Context, commit string) (api.AppStatus, error) {
	var a api.AppStatus
	err := d.poll(ctx, "gate "+gateStep, 100*time.Millisecond, func() (bool, string, error) {
		var err error
		if a, err = d.client.App(ctx, d.app); err != nil {
			return false, err.Error(), nil
		}
		phase := stepPhase(a.Workflow, gateStep)
		return phase == api.StepSuspended && strings.Contains(a.Revision, commit), fmt.Sprintf("%s at %s", phase, a.Revision), nil
	})
	return a, err
}

// waitImage polls the environment's Deployment until its pod template
// has image, and returns when it saw it.
func (d *demo) waitImage(ctx context.Context, env, image string) (time.Time, error) {
	var seen time.Time
	err := d.poll(ctx, "image in "+env, 20*time.Millisecond, func() (bool, string, error) {
		dep, err := d.kube[env].AppsV1().Deployments("hello-"+env).Get(ctx, d.app, getOpts)
		if err != nil {
			return false, err.Error(), nil
		}
		seen = time.Now()
		got := dep.Spec.Template.Spec.Containers[0].Image
		return got == image, got, nil
	})
	return seen, err
}

// waitDeployment waits until the environment's Deployment runs image and
// is Available, and says how long that took.
func (d *demo) waitDeployment(ctx context.Context, env, image string) (*appsv1.Deployment, time.Duration, error) {
	return d.waitDeploymentIn(ctx, env, "hello-"+env, image)
}

// waitDeploymentIn is waitDeployment for the app's Deployment in
// namespace ns of cluster.
func (d *demo) waitDeploymentIn(ctx context.Context, cluster, ns, image string) (*appsv1.Deployment, time.Duration, error) {
	start := time.Now()
	var dep *appsv1.Deployment
	err := d.poll(ctx, "deployment/"+d.app+" in "+ns, 100*time.Millisecond, func() (bool, string, error) {
		var err error
		if dep, err = d.kube[cluster].AppsV1().Deployments(ns).Get(ctx, d.app, getOpts); err != nil {
			return false, err.Error(), nil
		}
		ok := dep.Spec.Template.Spec.Containers[0].Image == image && walkthrough.Available(dep)
		return ok, fmt.Sprintf("%d/%d available", dep.Status.AvailableReplicas, *dep.Spec.Replicas), nil
	})
	return dep, time.Since(start).Round(time.Millisecond), err
}

// sendWebhook posts the push event GitHub would send for commit, signed
// with the webhook secret.
func (d *demo) sendWebhook(ctx context.Context, commit string) (int, error) {
	return d.postHook(ctx, "push", map[string]any{
		"ref":        "refs/heads/main",
		"after":      commit,
		"repository": map[string]string{"clone_url": d.repoURL},
	})
}

// postHook posts a GitHub webhook of event with payload, signed with the
// webhook secret, and wants it accepted.
func (d *demo) postHook(ctx context.Context, event string, payload any) (int, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.agentURL+"/hooks/github", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", walkthrough.RandomHex())
	req.Header.Set("X-Hub-Signature-256", "sha256="+webhook.Sign(d.hookSecret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("webhook: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return resp.StatusCode, fmt.Errorf("%s webhook answered %d", event, resp.StatusCode)
	}
	return resp.StatusCode, nil
}

func stepPhase(steps []api.StepStatus, name string) api.StepPhase {
	for _, s := range steps {
		if s.Name == name {
			return s.Phase
		}
		if p := stepPhase(s.SubSteps, name); p != "" {
			return p
		}
	}
	return ""
}
