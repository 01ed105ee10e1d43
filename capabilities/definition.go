package capabilities

import (
	"fmt"
	"path"
	"strings"

	"cuelang.org/go/cue"

	"github.com/carina-gitops/carina/appfile"
)

// Kind is the type of a definition, as KubeVela names it.
type Kind string

// The definition kinds.
const (
	KindComponent    Kind = "component"
	KindTrait        Kind = "trait"
	KindPolicy       Kind = "policy"
	KindWorkflowStep Kind = "workflow-step"
)

func (k Kind) valid() bool {
	switch k {
	case KindComponent, KindTrait, KindPolicy, KindWorkflowStep:
		return true
	}
	return false
}

// Source says where a definition comes from. Sources are listed from the
// highest precedence to the lowest.
type Source string

// The definition sources.
const (
	// SourceApp is the application repository's own definitions.
	SourceApp Source = "app"
	// SourceCapability is a capability repository named in the agent config
	// (or with carina render --definitions).
	SourceCapability Source = "capability"
	// SourceBuiltin is the library embedded in the binary.
	SourceBuiltin Source = "builtin"
)

func (s Source) rank() int {
	switch s {
	case SourceApp:
		return 0
	case SourceCapability:
		return 1
	default:
		return 2
	}
}

// Engine names a Go rendering engine for a component definition (Carina's
// extension attribute `engine`). An empty Engine means the CUE template's
// output and outputs are the component's objects.
type Engine string

// The Go engines.
const (
	EngineCUE       Engine = ""
	EngineHelm      Engine = "helm"
	EngineKustomize Engine = "kustomize"
	EngineManifests Engine = "manifests"
)

// Position is a place in a definition file: file:line:col, 1-based, the
// same type as the application's positions.
type Position = appfile.Position

// Origin records where a definition was loaded from.
type Origin struct {
	Source Source `json:"source"`
	// Module is the display name of the module (a directory or repository).
	Module string `json:"module,omitempty"`
	// File is the definition's file as it appears in positions.
	File string `json:"file"`
	// Revision is the snapshot revision the module came from (a commit SHA,
	// or the content digest of the built-in library).
	Revision string `json:"revision,omitempty"`
}

// WorkloadDef is the workload a component definition produces.
type WorkloadDef struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	// Type is the workload's resource.group, for example deployments.apps.
	Type string `json:"type,omitempty"`
}

// Status holds the CUE snippets that compute health and a status message of
// what a definition rendered. They are evaluated against the live objects
// with context.output and context.outputs set.
type Status struct {
	HealthPolicy string `json:"healthPolicy,omitempty"`
	CustomStatus string `json:"customStatus,omitempty"`
	Details      string `json:"details,omitempty"`
}

// IsZero reports whether no status snippet is set.
func (s Status) IsZero() bool { return s == Status{} }

// Attributes are the definition attributes Carina acts on.
type Attributes struct {
	Workload WorkloadDef `json:"workload,omitempty"`
	Status   Status      `json:"status,omitempty"`
	// AppliesToWorkloads lists what a trait applies to: "*", component
	// types, or workload types (resource.group). Empty means everything.
	AppliesToWorkloads []string `json:"appliesToWorkloads,omitempty"`
	// ConflictsWith lists trait types (path.Match patterns) that cannot be
	// attached next to this trait.
	ConflictsWith []string `json:"conflictsWith,omitempty"`
	// PodDisruptive says that changing the trait restarts pods.
	PodDisruptive bool `json:"podDisruptive,omitempty"`
	// Stage is "PreDispatch", "PostDispatch" or "" (the default stage).
	Stage string `json:"stage,omitempty"`
	// Engine is Carina's extension naming a Go engine for a component.
	Engine Engine `json:"engine,omitempty"`
}

// Definition is one loaded component, trait, policy or workflow-step
// definition. Its template is compiled on first use and cached by content
// digest.
type Definition struct {
	Name        string            `json:"name"`
	Kind        Kind              `json:"type"`
	Description string            `json:"description,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Attributes  Attributes        `json:"attributes"`
	Origin      Origin            `json:"origin"`
	// Pos is the position of the definition's header field.
	Pos Position `json:"pos"`
	// Digest is the sha256 of the definition file, hex encoded.
	Digest string `json:"digest"`

	src   []byte
	cache *Cache
}

// String names the definition as "kind name".
func (d *Definition) String() string { return fmt.Sprintf("%s %s", d.Kind, d.Name) }

// Template returns the compiled definition file: the template at
// TemplatePath and an open `context` at ContextPath. The caller fills
// ContextPath and ParameterPath and reads the template's fields.
func (d *Definition) Template() (cue.Value, error) {
	return d.cache.template(d)
}

// WorkloadType is the workload's resource.group, from the type attribute or
// derived from its apiVersion and kind.
func (d *Definition) WorkloadType() string {
	w := d.Attributes.Workload
	if w.Type != "" {
		return w.Type
	}
	if w.Kind == "" {
		return ""
	}
	return ResourceType(w.APIVersion, w.Kind)
}

// ResourceType derives resource.group from an apiVersion and kind, with the
// same naive pluralisation as Kubernetes' UnsafeGuessKindToResource.
func ResourceType(apiVersion, kind string) string {
	plural := strings.ToLower(kind)
	switch {
	case plural == "":
	case strings.HasSuffix(plural, "s"), strings.HasSuffix(plural, "x"), strings.HasSuffix(plural, "z"),
		strings.HasSuffix(plural, "ch"), strings.HasSuffix(plural, "sh"):
		plural += "es"
	case strings.HasSuffix(plural, "y") && len(plural) > 1 && !strings.ContainsRune("aeiou", rune(plural[len(plural)-2])):
		plural = plural[:len(plural)-1] + "ies"
	default:
		plural += "s"
	}
	group, _, found := strings.Cut(apiVersion, "/")
	if !found || group == "" {
		return plural
	}
	return plural + "." + group
}

// AppliesTo reports whether a trait may be attached to a component of type
// componentType whose workload is workloadType (resource.group).
func (d *Definition) AppliesTo(componentType, workloadType string) bool {
	if len(d.Attributes.AppliesToWorkloads) == 0 {
		return true
	}
	for _, w := range d.Attributes.AppliesToWorkloads {
		if w == "*" || w == componentType || (workloadType != "" && w == workloadType) {
			return true
		}
	}
	return false
}

// ConflictsWith reports whether this trait conflicts with a trait of type
// other.
func (d *Definition) ConflictsWith(other string) bool {
	for _, pattern := range d.Attributes.ConflictsWith {
		if ok, err := path.Match(pattern, other); err == nil && ok {
			return true
		}
	}
	return false
}
