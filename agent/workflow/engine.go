package workflow

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"time"
)

// Progress is what the World reports about a step it drives.
type Progress struct {
	Done    bool
	Failed  bool
	Message string
}

// World is what the engine observes and acts through; the agent
// implements it. Calls must not block for long: the engine is re-run when
// something changes.
type World interface {
	// Deploy releases envs at the current release and reports whether
	// they are applied and healthy.
	Deploy(ctx context.Context, envs []string) Progress
	// Healthy reports whether envs are healthy at the current release.
	Healthy(ctx context.Context, envs []string) Progress
	// AppHealthy reports whether another application is healthy, at
	// revision when it is not empty.
	AppHealthy(ctx context.Context, app, revision string) Progress
	// Notify posts payload as JSON to url.
	Notify(ctx context.Context, url string, payload any) error
	// Promote proposes the current release's revision for env p.To
	// through a pull request once p.From has been healthy at it for
	// p.Soak; it fails when p.From failed at it.
	Promote(ctx context.Context, p Promotion) Progress
}

// Promotion is a promote step's request.
type Promotion struct {
	// From is the environment that proves the revision, To the one it is
	// proposed for.
	From, To string
	// Soak is how long From must stay healthy, counted from Since (when
	// the step started).
	Soak  time.Duration
	Since time.Time
	// AutoMerge merges the pull request once the forge's checks pass.
	AutoMerge bool
}

// Options tune Advance.
type Options struct {
	// App names the application in notifications.
	App string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// DefaultTimeout bounds deploy, wait-healthy, depends-on-app and
	// notify steps that set no timeout.
	DefaultTimeout time.Duration
	// Poll is how soon to look again at a running step.
	Poll time.Duration
}

// Outcome says where the workflow stands after Advance.
type Outcome struct {
	// Done: every step is final.
	Done bool
	// Failed: a step failed.
	Failed bool
	// Suspended: a suspend step waits for Resume.
	Suspended bool
	// Changed: the State changed and should be saved.
	Changed bool
	// RequeueAfter is when to run Advance again; zero means only when
	// something changes.
	RequeueAfter time.Duration
}

type engine struct {
	ctx  context.Context
	st   *State
	w    World
	opts Options
	now  time.Time
	out  Outcome
	plan Plan
}

// Advance runs every step that can run now, in the plan's mode, and
// records the result in st. It observe the World, decides each step's
// phase and acts (deploy, notify) where the decision says so.
func Advance(ctx context.Context, plan Plan, st *State, w World, opts Options) Outcome {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Poll <= 0 {
		opts.Poll = 5 * time.Second
	}
	e := &engine{ctx: ctx, st: st, w: w, opts: opts, now: opts.Now(), plan: plan}
	done := e.run(plan.Steps, plan.Mode)
	e.out.Done = done
	return e.out
}

// run advances steps in mode and reports whether all are final.
func (e *engine) run(steps []Step, mode string) bool {
	allFinal := true
	for i, s := range steps {
		ss := e.st.Step(s.Name)
		if ss.Phase.Final() {
			e.out.Failed = e.out.Failed || ss.Phase == Failed
			continue
		}
		ready, depFailed := e.depsReady(steps[:i], s, mode)
		if !ready {
			allFinal = false
			if mode == StepByStep {
				return false
			}
			continue
		}
		e.step(s, ss, depFailed)
		if !ss.Phase.Final() {
			allFinal = false
			if mode == StepByStep {
				return false
			}
		} else if ss.Phase == Failed {
			e.out.Failed = true
		}
	}
	return allFinal
}

// depsReady reports whether the step's dependencies (and, step by step,
// every earlier step) are final, and whether one of them failed.
func (e *engine) depsReady(before []Step, s Step, mode string) (ready, failed bool) {
	deps := slices.Clone(s.DependsOn)
	if mode == StepByStep {
		for _, b := range before {
			deps = append(deps, b.Name)
		}
	}
	for _, d := range deps {
		ds, ok := e.st.Steps[d]
		if !ok || !ds.Phase.Final() {
			return false, false
		}
		failed = failed || ds.Phase == Failed || ds.Phase == Skipped && mode == DAG
	}
	return true, failed || e.out.Failed
}

// step decides and acts for one step that may run.
func (e *engine) step(s Step, ss *StepState, earlierFailed bool) {
	before := *ss
	defer func() {
		if *ss != before {
			e.out.Changed = true
		}
	}()
	run, err := e.condition(s.If, earlierFailed)
	switch {
	case err != nil:
		e.finish(ss, Failed, err.Error())
		return
	case !run:
		e.finish(ss, Skipped, "condition is false")
		return
	}
	if ss.Started.IsZero() {
		ss.Started = e.now
	}
	if s.TimeoutErr != nil {
		e.finish(ss, Failed, s.TimeoutErr.Error())
		return
	}
	e.act(s, ss)
	if ss.Phase.Final() {
		return
	}
	if timeout := e.timeout(s); timeout > 0 {
		left := ss.Started.Add(timeout).Sub(e.now)
		if left <= 0 {
			e.finish(ss, Failed, fmt.Sprintf("timed out after %s: %s", timeout, ss.Message))
			return
		}
		e.requeue(left)
	}
}

func (e *engine) timeout(s Step) time.Duration {
	switch {
	case s.Timeout > 0:
		return s.Timeout
	case s.Type == TypeSuspend || s.Type == TypeStepGroup:
		return 0
	case s.Type == TypePromote:
		soak, _ := soakTime(s)
		return soak + e.opts.DefaultTimeout
	}
	return e.opts.DefaultTimeout
}

// act runs one step by type.
func (e *engine) act(s Step, ss *StepState) {
	switch s.Type {
	case TypeDeploy:
		if len(s.Envs) == 0 {
			e.finish(ss, Succeeded, "no environment left to deploy (an earlier step deploys them)")
			return
		}
		e.progress(ss, e.w.Deploy(e.ctx, s.Envs))
	case TypeSuspend:
		e.suspend(s, ss)
	case TypeWaitHealthy:
		envs := stringList(s.Props, "envs")
		if len(envs) == 0 {
			envs = e.plan.Envs()
		}
		e.progress(ss, e.w.Healthy(e.ctx, envs))
	case TypeDependsOnApp:
		name, _ := s.Props["name"].(string)
		if name == "" {
			e.finish(ss, Failed, "depends-on-app needs properties.name")
			return
		}
		rev, _ := s.Props["revision"].(string)
		e.progress(ss, e.w.AppHealthy(e.ctx, name, rev))
	case TypeStepGroup:
		mode := s.Mode
		if mode == "" {
			mode = DAG
		}
		if e.run(s.SubSteps, mode) {
			phase := Succeeded
			for _, sub := range s.SubSteps {
				if e.st.Step(sub.Name).Phase == Failed {
					phase = Failed
				}
			}
			e.finish(ss, phase, "")
			return
		}
		ss.Phase = Running
	case TypeNotify:
		e.notify(s, ss)
	case TypePromote:
		e.promote(s, ss)
	default:
		e.finish(ss, Failed, fmt.Sprintf("step type %q is not supported", s.Type))
	}
}

func (e *engine) progress(ss *StepState, p Progress) {
	switch {
	case p.Failed:
		e.finish(ss, Failed, p.Message)
	case p.Done:
		e.finish(ss, Succeeded, p.Message)
	default:
		ss.Phase, ss.Message = Running, p.Message
		e.requeue(e.opts.Poll)
	}
}

func (e *engine) suspend(s Step, ss *StepState) {
	if ss.Resumed {
		e.finish(ss, Succeeded, "resumed")
		return
	}
	if raw, ok := s.Props["duration"].(string); ok && raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil || d <= 0 {
			e.finish(ss, Failed, fmt.Sprintf("duration %q is not a positive duration", raw))
			return
		}
		if left := ss.Started.Add(d).Sub(e.now); left > 0 {
			ss.Phase, ss.Message = Suspended, fmt.Sprintf("resumes by itself in %s, or with carina resume", left.Round(time.Second))
			e.out.Suspended = true
			e.requeue(left)
			return
		}
		e.finish(ss, Succeeded, "resumed after "+d.String())
		return
	}
	ss.Phase, ss.Message = Suspended, "waiting for carina resume"
	e.out.Suspended = true
}

func (e *engine) notify(s Step, ss *StepState) {
	url, _ := s.Props["url"].(string)
	if url == "" {
		e.finish(ss, Failed, "notify needs properties.url")
		return
	}
	msg, _ := s.Props["message"].(string)
	payload := map[string]any{"app": e.opts.App, "release": e.st.Release, "step": s.Name, "message": msg, "steps": e.phases()}
	if err := e.w.Notify(e.ctx, url, payload); err != nil {
		ss.Phase, ss.Message = Running, "notification failed, retrying: "+err.Error()
		e.requeue(e.opts.Poll)
		return
	}
	e.finish(ss, Succeeded, "notified")
}

// promote runs a promote step: the world waits for the soak and opens or
// updates the pull request.
func (e *engine) promote(s Step, ss *StepState) {
	from, _ := s.Props["from"].(string)
	to, _ := s.Props["to"].(string)
	if from == "" || to == "" || from == to {
		e.finish(ss, Failed, "promote needs properties.from and properties.to, two different environments")
		return
	}
	soak, err := soakTime(s)
	if err != nil {
		e.finish(ss, Failed, err.Error())
		return
	}
	auto, _ := s.Props["autoMerge"].(bool)
	p := e.w.Promote(e.ctx, Promotion{From: from, To: to, Soak: soak, Since: ss.Started, AutoMerge: auto})
	if left := ss.Started.Add(soak).Sub(e.now); !p.Done && !p.Failed && left > 0 {
		e.requeue(left)
	}
	e.progress(ss, p)
}

// soakTime reads a promote step's soakTime ("" is none).
func soakTime(s Step) (time.Duration, error) {
	raw, _ := s.Props["soakTime"].(string)
	if raw == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("soakTime %q is not a duration", raw)
	}
	return d, nil
}

func (e *engine) phases() map[string]Phase {
	out := make(map[string]Phase, len(e.st.Steps))
	for n, s := range e.st.Steps {
		out[n] = s.Phase
	}
	return out
}

func (e *engine) finish(ss *StepState, p Phase, msg string) {
	ss.Phase, ss.Message, ss.Finished = p, msg, e.now
}

func (e *engine) requeue(d time.Duration) {
	if d > 0 && (e.out.RequeueAfter == 0 || d < e.out.RequeueAfter) {
		e.out.RequeueAfter = d
	}
}

// condExpr is the one comparison form of `if` besides always, true and
// false: status.NAME.phase == "succeeded" (or status["NAME"], or !=).
var condExpr = regexp.MustCompile(`^status(?:\.([a-zA-Z0-9_-]+)|\["([^"]+)"\])\.phase\s*(==|!=)\s*"([a-z]+)"$`)

// condition evaluates a step's `if`. Without one a step runs only when no
// earlier step failed.
func (e *engine) condition(expr string, earlierFailed bool) (bool, error) {
	switch expr {
	case "":
		return !earlierFailed, nil
	case "always":
		return true, nil
	case "true":
		return !earlierFailed, nil
	case "false":
		return false, nil
	}
	m := condExpr.FindStringSubmatch(expr)
	if m == nil {
		return false, fmt.Errorf(`if %q is not supported: use always, true, false or status.STEP.phase == "PHASE"`, expr)
	}
	name := m[1] + m[2]
	ss, ok := e.st.Steps[name]
	if !ok {
		return false, fmt.Errorf("if %q names an unknown step %q", expr, name)
	}
	eq := string(ss.Phase) == m[4]
	return eq == (m[3] == "=="), nil
}

func stringList(props map[string]any, key string) []string {
	switch v := props[key].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return v
	}
	return nil
}
