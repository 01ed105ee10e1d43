package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/carina-gitops/carina/capabilities"
	"github.com/carina-gitops/carina/render/sops"
)

// Ownership labels Carina puts on every object it renders (DESIGN.md,
// "State"). Prune and drift never touch an object without them.
const (
	LabelApp       = "app.carina.dev/name"
	LabelEnv       = "app.carina.dev/env"
	LabelComponent = "app.carina.dev/component"
)

// Object is one rendered object and where it came from.
type Object struct {
	Object *unstructured.Unstructured `json:"object"`
	// Component is the component that produced it.
	Component string `json:"component"`
	// Env is the environment it belongs to.
	Env string `json:"env"`
	// Definition is the definition that produced it: "component
	// webservice" or "trait gateway".
	Definition string `json:"definition"`
	// Trait is the trait type whose outputs produced it; "" when the
	// component did.
	Trait string `json:"trait,omitempty"`
	// Workload is true for the component's main object: context.output
	// in health policies.
	Workload bool `json:"workload,omitempty"`
	// OutputName is its name under outputs (context.outputs[OutputName]);
	// "" for the workload and for objects of Helm, Kustomize and manifests
	// components.
	OutputName string `json:"outputName,omitempty"`
	// Health holds the producing definition's health policy and custom
	// status, evaluated against the live objects by the apply engine.
	Health capabilities.Status `json:"health,omitzero"`
	// Parameter is the snippets' `parameter`: the properties the
	// component or trait was given, as in KubeVela. It is set only when a
	// status snippet reads parameter, and only read.
	Parameter map[string]any `json:"parameter,omitempty"`
	// Stage is the trait's dispatch stage: "", "PreDispatch" or
	// "PostDispatch".
	Stage string `json:"stage,omitempty"`
}

// Result is the render of one application in one environment.
type Result struct {
	App string `json:"app"`
	Env string `json:"env"`
	// File is the file the application was read from (its Pos.File),
	// which Decrypt verifies whole when it is a SOPS file.
	File      string   `json:"file,omitempty"`
	Namespace string   `json:"namespace"`
	Cluster   string   `json:"cluster"`
	Objects   []Object `json:"objects"`
	// Digest is "sha256:<hex>" over the canonical output: every object's
	// JSON (sorted keys) with its component, definition and health, in
	// apply order. Equal digests mean nothing to apply changed.
	Digest string `json:"digest"`
	// Warnings are what KubeVela accepts but Carina flags: a trait outside
	// its appliesToWorkloads, two traits that conflictsWith names. With
	// Options.Strict they are errors instead.
	Warnings []string `json:"warnings,omitempty"`
	// Bytes is the size of the canonical output.
	Bytes int64 `json:"bytes"`
	// Decrypted lists the fields that held SOPS ciphertext and now hold
	// plaintext (see Decrypt): mask them with sops.NewMasker before an
	// object reaches a diff, the status API or the inventory.
	Decrypted []sops.Field `json:"decrypted,omitempty"`
}

// digestRecord is what the digest covers for one object.
type digestRecord struct {
	Component  string                 `json:"c"`
	Definition string                 `json:"d"`
	Trait      string                 `json:"t,omitempty"`
	Workload   bool                   `json:"w,omitempty"`
	OutputName string                 `json:"o,omitempty"`
	Health     capabilities.Status    `json:"h,omitzero"`
	Parameter  map[string]any         `json:"p,omitempty"`
	Stage      string                 `json:"s,omitempty"`
	Object     map[string]interface{} `json:"x"`
}

// digest hashes the objects in order and enforces the output budget.
func digest(objs []Object, maxBytes int64) (string, int64, error) {
	h := sha256.New()
	var n int64
	for _, o := range objs {
		rec := digestRecord{
			Component: o.Component, Definition: o.Definition, Trait: o.Trait, Workload: o.Workload,
			OutputName: o.OutputName, Health: o.Health, Parameter: o.Parameter, Stage: o.Stage, Object: o.Object.Object,
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return "", 0, fmt.Errorf("%s: %w", objectRef(o.Object), err)
		}
		n += int64(len(b)) + 1
		if maxBytes > 0 && n > maxBytes {
			return "", 0, &BudgetError{What: "output bytes", Limit: maxBytes}
		}
		h.Write(b)
		h.Write([]byte{'\n'})
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), n, nil
}

// objectRef prints Kind/namespace/name (Kind/name when cluster-scoped).
func objectRef(u *unstructured.Unstructured) string {
	if ns := u.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s/%s/%s", u.GetKind(), ns, u.GetName())
	}
	return fmt.Sprintf("%s/%s", u.GetKind(), u.GetName())
}

// BudgetError says a render went over one of its limits.
type BudgetError struct {
	What  string
	Limit int64
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("render exceeds its budget of %d %s", e.Limit, e.What)
}

// ByRef returns the result's objects as JSON by "Kind/namespace/name"
// ("Kind/name" for a cluster-scoped one): what a promotion compares
// between two renders.
func (r *Result) ByRef() (map[string][]byte, error) {
	out := make(map[string][]byte, len(r.Objects))
	for _, o := range r.Objects {
		data, err := json.Marshal(o.Object.Object)
		if err != nil {
			return nil, err
		}
		ref := o.Object.GetKind() + "/" + o.Object.GetName()
		if ns := o.Object.GetNamespace(); ns != "" {
			ref = o.Object.GetKind() + "/" + ns + "/" + o.Object.GetName()
		}
		out[ref] = data
	}
	return out, nil
}
