package workflow

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/carina-gitops/carina/appfile"
)

// world is a scripted World: envs become done when listed in ready.
type world struct {
	ready     map[string]bool
	failed    map[string]string
	deployed  []string
	notified  []string
	apps      map[string]string // app -> healthy revision
	notifyErr error
	promotes  []Promotion
}

// Promote proposes once From is healthy and the soak has passed.
func (w *world) Promote(ctx context.Context, p Promotion) Progress {
	w.promotes = append(w.promotes, p)
	if h := w.Healthy(ctx, []string{p.From}); !h.Done {
		return h
	}
	if time.Since(p.Since) < p.Soak {
		return Progress{Message: "soaking"}
	}
	return Progress{Done: true, Message: "pull request #1 opened"}
}

func (w *world) Deploy(_ context.Context, envs []string) Progress {
	w.deployed = append(w.deployed, envs...)
	return w.Healthy(context.Background(), envs)
}

func (w *world) Healthy(_ context.Context, envs []string) Progress {
	for _, e := range envs {
		if msg, ok := w.failed[e]; ok {
			return Progress{Failed: true, Message: msg}
		}
		if !w.ready[e] {
			return Progress{Message: e + " is progressing"}
		}
	}
	return Progress{Done: true}
}

func (w *world) AppHealthy(_ context.Context, app, rev string) Progress {
	got, ok := w.apps[app]
	if ok && (rev == "" || rev == got) {
		return Progress{Done: true}
	}
	return Progress{Message: "waiting for " + app}
}

func (w *world) Notify(_ context.Context, url string, _ any) error {
	if w.notifyErr != nil {
		return w.notifyErr
	}
	w.notified = append(w.notified, url)
	return nil
}

func phases(st *State) map[string]Phase {
	out := map[string]Phase{}
	for n, s := range st.Steps {
		out[n] = s.Phase
	}
	return out
}

func shopApp(steps ...appfile.WorkflowStep) (*appfile.Application, []appfile.Environment) {
	app := &appfile.Application{Name: "shop"}
	if steps != nil {
		app.Workflow = &appfile.Workflow{Steps: steps}
	}
	envs := []appfile.Environment{{Name: "staging", Step: "deploy-staging"}, {Name: "prod", Step: "deploy-prod"}}
	if steps == nil {
		envs[0].Step, envs[1].Step = "", ""
	}
	return app, envs
}

func TestStagingSuspendResumeProd(t *testing.T) {
	app, envs := shopApp(
		appfile.WorkflowStep{Name: "deploy-staging", Type: TypeDeploy},
		appfile.WorkflowStep{Name: "approve", Type: TypeSuspend},
		appfile.WorkflowStep{Name: "deploy-prod", Type: TypeDeploy},
		appfile.WorkflowStep{Name: "tell", Type: TypeNotify, Properties: map[string]any{"url": "http://hook"}},
	)
	plan := NewPlan(app, envs)
	w := &world{ready: map[string]bool{}}
	st := NewState("r1")
	opts := Options{App: "shop", DefaultTimeout: time.Minute}

	out := Advance(t.Context(), plan, st, w, opts)
	if out.Done || !out.Changed || out.RequeueAfter == 0 {
		t.Errorf("first advance = %+v", out)
	}
	w.ready["staging"] = true
	out = Advance(t.Context(), plan, st, w, opts)
	if !out.Suspended || out.Done {
		t.Errorf("after staging = %+v, want suspended", out)
	}
	want := map[string]Phase{"deploy-staging": Succeeded, "approve": Suspended}
	if diff := cmp.Diff(want, phases(st)); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
	// A round trip through the encoding is what a restart sees.
	enc, err := st.Encode()
	if err != nil {
		t.Fatal(err)
	}
	st, err = Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.Resume(); n != 1 {
		t.Errorf("Resume = %d, want 1", n)
	}
	w.ready["prod"] = true
	out = Advance(t.Context(), plan, st, w, opts)
	if !out.Done || out.Failed {
		t.Errorf("after resume = %+v, want done", out)
	}
	want = map[string]Phase{"deploy-staging": Succeeded, "approve": Succeeded, "deploy-prod": Succeeded, "tell": Succeeded}
	if diff := cmp.Diff(want, phases(st)); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"staging", "staging", "prod"}, w.deployed); diff != "" {
		t.Errorf("deploys (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"http://hook"}, w.notified); diff != "" {
		t.Errorf("notifications (-want +got):\n%s", diff)
	}
	// Done is stable: nothing runs again.
	out = Advance(t.Context(), plan, st, w, opts)
	if !out.Done || out.Changed || len(w.notified) != 1 {
		t.Errorf("re-advance = %+v, notified %v", out, w.notified)
	}
}

func TestNoWorkflowDeploysEveryEnvInOrder(t *testing.T) {
	app, envs := shopApp()
	plan := NewPlan(app, envs)
	if diff := cmp.Diff([]string{"staging", "prod"}, plan.Envs()); diff != "" {
		t.Fatalf("plan envs (-want +got):\n%s", diff)
	}
	w := &world{ready: map[string]bool{"staging": true}}
	st := NewState("r1")
	Advance(t.Context(), plan, st, w, Options{})
	want := map[string]Phase{"deploy-staging": Succeeded, "deploy-prod": Running}
	if diff := cmp.Diff(want, phases(st)); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
}

func TestFailureSkipsLaterStepsUnlessAlways(t *testing.T) {
	app, envs := shopApp(
		appfile.WorkflowStep{Name: "deploy-staging", Type: TypeDeploy},
		appfile.WorkflowStep{Name: "deploy-prod", Type: TypeDeploy},
		appfile.WorkflowStep{Name: "on-failure", Type: TypeNotify, If: `status["deploy-staging"].phase == "failed"`, Properties: map[string]any{"url": "http://fail"}},
		appfile.WorkflowStep{Name: "always", Type: TypeNotify, If: "always", Properties: map[string]any{"url": "http://always"}},
	)
	w := &world{ready: map[string]bool{}, failed: map[string]string{"staging": "Deployment/shop/web: image pull failed"}}
	st := NewState("r1")
	out := Advance(t.Context(), NewPlan(app, envs), st, w, Options{})
	if !out.Done || !out.Failed {
		t.Errorf("outcome = %+v, want done and failed", out)
	}
	want := map[string]Phase{"deploy-staging": Failed, "deploy-prod": Skipped, "on-failure": Succeeded, "always": Succeeded}
	if diff := cmp.Diff(want, phases(st)); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
	if got := st.Steps["deploy-staging"].Message; got != "Deployment/shop/web: image pull failed" {
		t.Errorf("message = %q", got)
	}
}

func TestTimeoutsDurationsAndDependencies(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	app, envs := shopApp(
		appfile.WorkflowStep{Name: "deploy-staging", Type: TypeDeploy, Timeout: "1m"},
		appfile.WorkflowStep{Name: "soak", Type: TypeSuspend, Properties: map[string]any{"duration": "30s"}},
		appfile.WorkflowStep{Name: "group", Type: TypeStepGroup, SubSteps: []appfile.WorkflowStep{
			{Name: "db", Type: TypeDependsOnApp, Properties: map[string]any{"name": "db", "revision": "v2"}},
			{Name: "deploy-prod", Type: TypeDeploy, DependsOn: []string{"db"}},
		}},
	)
	plan := NewPlan(app, envs)
	w := &world{ready: map[string]bool{}, apps: map[string]string{"db": "v1"}}
	st := NewState("r1")
	opts := Options{Now: clock}
	out := Advance(t.Context(), plan, st, w, opts)
	if out.RequeueAfter != 5*time.Second {
		t.Errorf("requeue = %s, want the poll interval", out.RequeueAfter)
	}
	now = now.Add(61 * time.Second)
	out = Advance(t.Context(), plan, st, w, opts)
	if !out.Done || !out.Failed || st.Steps["deploy-staging"].Phase != Failed {
		t.Fatalf("after the timeout = %+v, %v", out, phases(st))
	}

	st = NewState("r2")
	w.ready["staging"] = true
	out = Advance(t.Context(), plan, st, w, opts)
	if !out.Suspended || out.RequeueAfter != 30*time.Second {
		t.Errorf("soak = %+v, want suspended for 30s", out)
	}
	now = now.Add(31 * time.Second)
	out = Advance(t.Context(), plan, st, w, opts)
	want := map[string]Phase{"deploy-staging": Succeeded, "soak": Succeeded, "group": Running, "db": Running, "deploy-prod": Pending}
	if diff := cmp.Diff(want, phases(st)); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
	w.apps["db"] = "v2"
	w.ready["prod"] = true
	out = Advance(t.Context(), plan, st, w, opts)
	out = Advance(t.Context(), plan, st, w, opts)
	if !out.Done || out.Failed {
		t.Errorf("outcome = %+v, phases %v", out, phases(st))
	}
}

func TestBadStepsFailClearly(t *testing.T) {
	tests := []struct {
		step    appfile.WorkflowStep
		wantMsg string
	}{
		{appfile.WorkflowStep{Name: "x", Type: "apply-terraform"}, `step type "apply-terraform" is not supported`},
		{appfile.WorkflowStep{Name: "x", Type: TypeSuspend, Timeout: "soon"}, `timeout "soon" is not a positive duration like 30s or 10m`},
		{appfile.WorkflowStep{Name: "x", Type: TypeSuspend, If: "context.x > 1"}, `if "context.x > 1" is not supported: use always, true, false or status.STEP.phase == "PHASE"`},
		{appfile.WorkflowStep{Name: "x", Type: TypeNotify}, "notify needs properties.url"},
		{appfile.WorkflowStep{Name: "x", Type: TypeDependsOnApp}, "depends-on-app needs properties.name"},
	}
	for _, tt := range tests {
		t.Run(tt.wantMsg, func(t *testing.T) {
			app := &appfile.Application{Name: "a", Workflow: &appfile.Workflow{Steps: []appfile.WorkflowStep{tt.step}}}
			st := NewState("r")
			Advance(t.Context(), NewPlan(app, nil), st, &world{}, Options{})
			got := st.Steps["x"]
			if got.Phase != Failed || got.Message != tt.wantMsg {
				t.Errorf("step = %s %q, want failed %q", got.Phase, got.Message, tt.wantMsg)
			}
		})
	}
}

func TestNotifyRetriesUntilItWorks(t *testing.T) {
	app := &appfile.Application{Name: "a", Workflow: &appfile.Workflow{Steps: []appfile.WorkflowStep{
		{Name: "n", Type: TypeNotify, Properties: map[string]any{"url": "http://x"}},
	}}}
	w := &world{notifyErr: errors.New("connection refused")}
	st := NewState("r")
	out := Advance(t.Context(), NewPlan(app, nil), st, w, Options{})
	if out.Done || st.Steps["n"].Phase != Running {
		t.Fatalf("outcome %+v, step %+v", out, st.Steps["n"])
	}
	w.notifyErr = nil
	if out = Advance(t.Context(), NewPlan(app, nil), st, w, Options{}); !out.Done {
		t.Errorf("outcome %+v", out)
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	if _, err := Decode("{"); err == nil {
		t.Error("Decode accepted broken JSON")
	}
	if st, err := Decode(""); st != nil || err != nil {
		t.Errorf("Decode(\"\") = %v, %v", st, err)
	}
}

// TestPromoteStep: a promote step checks its properties, waits for the
// soak (asking to be run again when it ends), fails when the source
// environment failed, and succeeds once the world proposed the pull
// request. The world here is scripted (pure engine logic); the agent's
// Promote is tested against a real Gitea (agent TestPromoteStepOnGitea).
func TestPromoteStep(t *testing.T) {
	step := func(props map[string]any) (Plan, *State) {
		app, envs := shopApp(
			appfile.WorkflowStep{Name: "deploy-staging", Type: TypeDeploy},
			appfile.WorkflowStep{Name: "promote", Type: TypePromote, Properties: props},
			appfile.WorkflowStep{Name: "deploy-prod", Type: TypeDeploy},
		)
		return NewPlan(app, envs), NewState("r1")
	}
	opts := Options{App: "shop", DefaultTimeout: time.Minute, Poll: time.Second}

	plan, st := step(map[string]any{"to": "prod"})
	w := &world{ready: map[string]bool{"staging": true}}
	Advance(context.Background(), plan, st, w, opts)
	if ss := st.Step("promote"); ss.Phase != Failed || ss.Message != "promote needs properties.from and properties.to, two different environments" {
		t.Errorf("without from: %+v", ss)
	}

	plan, st = step(map[string]any{"from": "staging", "to": "prod", "soakTime": "1h"})
	out := Advance(context.Background(), plan, st, w, opts)
	if ss := st.Step("promote"); ss.Phase != Running || ss.Message != "soaking" || out.RequeueAfter != time.Second {
		t.Errorf("soaking: %+v, requeue %s", ss, out.RequeueAfter)
	}
	if p := w.promotes[len(w.promotes)-1]; p.From != "staging" || p.To != "prod" || p.Soak != time.Hour || p.Since.IsZero() {
		t.Errorf("promotion asked = %+v", p)
	}

	plan, st = step(map[string]any{"from": "staging", "to": "prod", "soakTime": "10ms", "autoMerge": true})
	Advance(context.Background(), plan, st, w, opts)
	time.Sleep(20 * time.Millisecond)
	Advance(context.Background(), plan, st, w, opts)
	if ss := st.Step("promote"); ss.Phase != Succeeded || !w.promotes[len(w.promotes)-1].AutoMerge {
		t.Errorf("after the soak: %+v", ss)
	}

	plan, st = step(map[string]any{"from": "staging", "to": "prod", "soakTime": "soon"})
	Advance(context.Background(), plan, st, w, opts)
	if ss := st.Step("promote"); ss.Phase != Failed || ss.Message != `soakTime "soon" is not a duration` {
		t.Errorf("bad soakTime: %+v", ss)
	}

	plan, st = step(map[string]any{"from": "staging", "to": "prod"})
	w = &world{ready: map[string]bool{}, failed: map[string]string{"staging": "staging: render failed"}}
	Advance(context.Background(), plan, st, w, opts)
	if ss := st.Step("deploy-staging"); ss.Phase != Failed {
		t.Errorf("staging failed: deploy step %+v", ss)
	}
	if len(w.promotes) != 0 {
		t.Errorf("a failed revision was proposed: %+v", w.promotes)
	}
}
