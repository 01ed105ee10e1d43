package workflow

import (
	"fmt"
	"slices"
	"time"

	"github.com/carina-gitops/carina/appfile"
)

// Step types the engine runs.
const (
	TypeDeploy       = "deploy"
	TypeSuspend      = "suspend"
	TypeWaitHealthy  = "wait-healthy"
	TypeDependsOnApp = "depends-on-app"
	TypeStepGroup    = "step-group"
	TypeNotify       = "notify"
	TypePromote      = "promote"
)

// Modes of a workflow or a step-group.
const (
	StepByStep = "StepByStep"
	DAG        = "DAG"
)

// Step is one step, normalized from the application.
type Step struct {
	Name  string
	Type  string
	Props map[string]any
	// If is the step's condition ("" runs it when no earlier step failed).
	If string
	// Timeout bounds the step from its start; zero means the default.
	Timeout time.Duration
	// TimeoutErr says why Timeout could not be read.
	TimeoutErr error
	DependsOn  []string
	// Envs are the environments a deploy step deploys.
	Envs []string
	// SubSteps of a step-group, run in Mode.
	SubSteps []Step
	Mode     string
}

// Plan is the steps of an application and how they run.
type Plan struct {
	Mode  string
	Steps []Step
}

// NewPlan normalizes the application's workflow. Without one (or with no
// steps) every environment gets a deploy step, in order, as KubeVela's
// generated workflow does.
func NewPlan(app *appfile.Application, envs []appfile.Environment) Plan {
	byStep := map[string][]string{}
	for _, e := range envs {
		byStep[e.Step] = append(byStep[e.Step], e.Name)
	}
	if app.Workflow == nil || len(app.Workflow.Steps) == 0 {
		p := Plan{Mode: StepByStep}
		for _, e := range envs {
			p.Steps = append(p.Steps, Step{Name: "deploy-" + e.Name, Type: TypeDeploy, Envs: []string{e.Name}})
		}
		return p
	}
	sub := app.Workflow.SubStepsMode
	if sub == "" {
		sub = DAG
	}
	mode := app.Workflow.Mode
	if mode == "" {
		mode = StepByStep
	}
	return Plan{Mode: mode, Steps: normalize(app.Workflow.Steps, byStep, sub)}
}

func normalize(in []appfile.WorkflowStep, byStep map[string][]string, subMode string) []Step {
	out := make([]Step, 0, len(in))
	for _, s := range in {
		st := Step{Name: s.Name, Type: s.Type, Props: s.Properties, If: s.If, DependsOn: slices.Clone(s.DependsOn)}
		if s.Timeout != "" {
			d, err := time.ParseDuration(s.Timeout)
			if err != nil || d <= 0 {
				st.TimeoutErr = fmt.Errorf("timeout %q is not a positive duration like 30s or 10m", s.Timeout)
			}
			st.Timeout = d
		}
		if s.Type == TypeDeploy {
			st.Envs = byStep[s.Name]
		}
		if s.Type == TypeStepGroup {
			st.Mode = s.Mode
			if st.Mode == "" {
				st.Mode = subMode
			}
			st.SubSteps = normalize(s.SubSteps, byStep, subMode)
		}
		out = append(out, st)
	}
	return out
}

// Envs lists the environments of every deploy step, in order.
func (p Plan) Envs() []string {
	var out []string
	var walk func([]Step)
	walk = func(steps []Step) {
		for _, s := range steps {
			out = append(out, s.Envs...)
			walk(s.SubSteps)
		}
	}
	walk(p.Steps)
	return out
}
