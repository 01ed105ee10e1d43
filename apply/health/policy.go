package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/parser"

	"github.com/carina-gitops/carina/internal/panics"
)

// Policy is a definition's status snippets, in KubeVela's format: CUE that
// reads `context.output` (the component's workload, live) and
// `context.outputs.<name>` (its other objects, live).
type Policy struct {
	// HealthPolicy must set `isHealth: bool`. Empty means the objects'
	// own (kstatus) health decides.
	HealthPolicy string
	// CustomStatus may set `message: string`, shown next to the status.
	CustomStatus string
}

// IsZero reports whether the policy has no snippets.
func (p Policy) IsZero() bool { return p.HealthPolicy == "" && p.CustomStatus == "" }

// PolicyContext is the `context` a policy sees.
type PolicyContext struct {
	// Output is the workload's live object.
	Output map[string]any `json:"output"`
	// Outputs are the other live objects by output name.
	Outputs map[string]map[string]any `json:"outputs"`
	// Name is the component's name, AppName the application's, and
	// Namespace the environment's namespace.
	Name      string `json:"name"`
	AppName   string `json:"appName"`
	Namespace string `json:"namespace"`
}

// PolicyResult is the outcome of a policy.
type PolicyResult struct {
	// HasHealth is false when the policy has no HealthPolicy.
	HasHealth bool
	Healthy   bool
	// Message is customStatus's message ("" without one).
	Message string
}

// MaxPolicyBytes bounds the size of each snippet.
const MaxPolicyBytes = 64 << 10

// ErrPolicy marks an error in a definition's health policy or custom
// status (as opposed to an unhealthy object).
var ErrPolicy = errors.New("health policy error")

// Evaluate runs the policy's snippets against c. It returns when ctx is
// done even if CUE is still evaluating (CUE cannot be interrupted; the
// evaluation then finishes in the background).
func (p Policy) Evaluate(ctx context.Context, c PolicyContext) (PolicyResult, error) {
	if err := ctx.Err(); err != nil {
		return PolicyResult{}, fmt.Errorf("health policy evaluation stopped: %w", err)
	}
	if c.Outputs == nil {
		c.Outputs = map[string]map[string]any{}
	}
	ctxJSON, err := json.Marshal(c)
	if err != nil {
		return PolicyResult{}, err
	}
	type outcome struct {
		r   PolicyResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		if perr := panics.Catch("health", func() { o.r, o.err = p.evaluate(string(ctxJSON)) }); perr != nil {
			o.err = perr
		}
		done <- o
	}()
	select {
	case o := <-done:
		return o.r, o.err
	case <-ctx.Done():
		return PolicyResult{}, fmt.Errorf("health policy evaluation stopped: %w", ctx.Err())
	}
}

func (p Policy) evaluate(ctxJSON string) (PolicyResult, error) {
	var r PolicyResult
	if p.HealthPolicy != "" {
		v, err := compile("healthPolicy", p.HealthPolicy, ctxJSON)
		if err != nil {
			return r, err
		}
		h := v.LookupPath(cue.ParsePath("isHealth"))
		if !h.Exists() {
			return r, fmt.Errorf("healthPolicy does not set isHealth: %w", ErrPolicy)
		}
		if r.Healthy, err = h.Bool(); err != nil {
			return r, fmt.Errorf("healthPolicy: isHealth: %w: %w", ErrPolicy, err)
		}
		r.HasHealth = true
	}
	if p.CustomStatus != "" {
		v, err := compile("customStatus", p.CustomStatus, ctxJSON)
		if err != nil {
			return r, err
		}
		if m := v.LookupPath(cue.ParsePath("message")); m.Exists() {
			if r.Message, err = m.String(); err != nil {
				return r, fmt.Errorf("customStatus: message: %w: %w", ErrPolicy, err)
			}
		}
	}
	return r, nil
}

// compile evaluates one snippet with `context` set. Only standard-library
// imports outside tool/ are allowed.
func compile(name, src, ctxJSON string) (cue.Value, error) {
	if len(src) > MaxPolicyBytes {
		return cue.Value{}, fmt.Errorf("%s is %d bytes, more than %d: %w", name, len(src), MaxPolicyBytes, ErrPolicy)
	}
	f, err := parser.ParseFile(name, src, parser.ImportsOnly)
	if err != nil {
		return cue.Value{}, fmt.Errorf("%s: %w: %w", name, ErrPolicy, err)
	}
	for imp := range f.ImportSpecs() {
		path, _ := strconv.Unquote(imp.Path.Value)
		if first, _, _ := strings.Cut(path, "/"); first == "tool" || strings.Contains(first, ".") {
			return cue.Value{}, fmt.Errorf("%s: import %q is not allowed: %w", name, path, ErrPolicy)
		}
	}
	v := cuecontext.New().CompileString(src+"\ncontext: "+ctxJSON+"\n", cue.Filename(name))
	if err := v.Err(); err != nil {
		return cue.Value{}, fmt.Errorf("%s: %w: %w", name, ErrPolicy, err)
	}
	return v, nil
}
