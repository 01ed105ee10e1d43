package appfile

import "fmt"

// Position is a place in a source file. Line and Col are 1-based; a zero
// Line means the position is unknown.
type Position struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
}

// String prints file:line:col, omitting what is unknown.
func (p Position) String() string {
	switch {
	case p.File == "":
		return ""
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	default:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	}
}

// Application is the parsed form of both the KubeVela-compatible
// Application and the short Appfile. Both syntaxes produce this value.
type Application struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Components  []Component       `json:"components"`
	Policies    []Policy          `json:"policies,omitempty"`
	// Workflow is nil when the application declares none; it then deploys
	// to every topology policy in declaration order.
	Workflow *Workflow `json:"workflow,omitempty"`
	// AllowEmpty permits a render that produces no objects (annotation
	// app.carina.dev/allow-empty: "true" or Appfile allowEmpty: true).
	AllowEmpty bool `json:"allowEmpty,omitempty"`
	// Dir is the directory, relative to the repository root, that holds the
	// application file. Paths in component properties are relative to it.
	Dir string   `json:"dir,omitempty"`
	Pos Position `json:"pos"`
}

// Component is one component of an application.
type Component struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Properties map[string]any `json:"properties,omitempty"`
	Traits     []Trait        `json:"traits,omitempty"`
	DependsOn  []string       `json:"dependsOn,omitempty"`
	Pos        Position       `json:"pos"`
}

// Trait attaches operational behaviour to a component.
type Trait struct {
	Type       string         `json:"type"`
	Properties map[string]any `json:"properties,omitempty"`
	Pos        Position       `json:"pos"`
}

// Policy is an application-level policy (topology, override, ...).
type Policy struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Properties map[string]any `json:"properties,omitempty"`
	Pos        Position       `json:"pos"`
}

// Workflow is the ordered list of steps of an application.
type Workflow struct {
	Steps []WorkflowStep `json:"steps"`
	// Mode is "StepByStep" (default) or "DAG", as in KubeVela.
	Mode string `json:"mode,omitempty"`
	// SubStepsMode is the default mode of step-group sub-steps
	// (KubeVela's workflow.mode.subSteps): "StepByStep" or "DAG".
	SubStepsMode string   `json:"subStepsMode,omitempty"`
	Pos          Position `json:"pos"`
}

// WorkflowStep is one step; step-group steps carry SubSteps.
type WorkflowStep struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Properties map[string]any `json:"properties,omitempty"`
	If         string         `json:"if,omitempty"`
	Timeout    string         `json:"timeout,omitempty"`
	DependsOn  []string       `json:"dependsOn,omitempty"`
	SubSteps   []WorkflowStep `json:"subSteps,omitempty"`
	// Mode is the mode of a step-group's sub-steps ("StepByStep" or
	// "DAG"); empty means the workflow's SubStepsMode.
	Mode string `json:"mode,omitempty"`
	// Alias is the display name from KubeVela's meta.alias.
	Alias string   `json:"alias,omitempty"`
	Pos   Position `json:"pos"`
}

// Environment is one deployment target of an application: a topology
// policy plus the override policies that a deploy step names with it. An
// application with no topology policy has one environment, DefaultEnv.
type Environment struct {
	// Name is the topology policy's name (or DefaultEnv).
	Name string `json:"name"`
	// Step is the deploy step that deploys it ("" without a workflow).
	Step           string   `json:"step,omitempty"`
	Clusters       []string `json:"clusters,omitempty"`
	Namespace      string   `json:"namespace,omitempty"`
	ServiceAccount string   `json:"serviceAccount,omitempty"`
	// Overrides are the override policies applied in this environment, in
	// the order the deploy step lists them.
	Overrides []Policy `json:"overrides,omitempty"`
	// Policies are all policies the deploy step names (topology and
	// override included), for policy types other than those two.
	Policies []Policy `json:"policies,omitempty"`
	// Notes explain topology settings that Carina accepted but does not
	// act on (for example clusterLabelSelector next to clusters).
	Notes []string `json:"notes,omitempty"`
}

// DefaultEnv is the name of the environment of an application without a
// topology policy.
const DefaultEnv = "default"
