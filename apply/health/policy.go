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
// reads `context.output` (the component's workload, live),
// `context.outputs.<name>` (its other objects, live) and `parameter` (the
// properties the definition was given).
type Policy struct {
	// HealthPolicy must set `isHealth: bool`. Empty means the objects'
	// own (kstatus) health decides.
	HealthPolicy string
	// CustomStatus may set `message: string`, shown next to the status.
	// It also sees `context.status.healthy`: the healthPolicy's verdict,
	// or the objects' own health without one.
	CustomStatus string
	// Parameter is the snippets' `parameter`: the component's or trait's
	// properties as the application gives them, as KubeVela passes them.
	// Nil is {}. It is only read.
	Parameter map[string]any
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
	// Healthy is the objects' own health (kstatus), which customStatus
	// sees as context.status.healthy when there is no healthPolicy.
	Healthy bool `json:"-"`
}

// snippetContext is the context as the snippets see it: PolicyContext
// and `status` ({} for healthPolicy, {healthy: bool} for customStatus, as
// KubeVela gives them).
type snippetContext struct {
	PolicyContext
	Status map[string]any `json:"status"`
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
	params := p.Parameter
	if params == nil {
		params = map[string]any{}
	}
	paramJSON, err := json.Marshal(params)
	if err != nil {
		return PolicyResult{}, fmt.Errorf("parameter: %w: %w", ErrPolicy, err)
	}
	type outcome struct {
		r   PolicyResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		if perr := panics.Catch("health", func() { o.r, o.err = p.evaluate(c, string(paramJSON)) }); perr != nil {
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

func (p Policy) evaluate(c PolicyContext, paramJSON string) (PolicyResult, error) {
	r := PolicyResult{Healthy: c.Healthy}
	if p.HealthPolicy != "" {
		ctxJSON, err := json.Marshal(snippetContext{PolicyContext: c, Status: map[string]any{}})
		if err != nil {
			return PolicyResult{}, err
		}
		v, err := compile("healthPolicy", p.HealthPolicy, string(ctxJSON), paramJSON)
		if err != nil {
			return PolicyResult{}, err
		}
		h := v.LookupPath(cue.ParsePath("isHealth"))
		if !h.Exists() {
			return PolicyResult{}, fmt.Errorf("healthPolicy does not set isHealth: %w", ErrPolicy)
		}
		if r.Healthy, err = h.Bool(); err != nil {
			return PolicyResult{}, fmt.Errorf("healthPolicy: isHealth: %w: %w", ErrPolicy, err)
		}
		r.HasHealth = true
	}
	if p.CustomStatus != "" {
		r.Message = p.message(c, r.Healthy, paramJSON)
	}
	if !r.HasHealth {
		r.Healthy = false
	}
	return r, nil
}

// message evaluates customStatus. As in KubeVela, a customStatus that
// fails or leaves message non-concrete gives no message and does not
// change health: KubeVela's own expose trait leaves it open while a load
// balancer is pending.
func (p Policy) message(c PolicyContext, healthy bool, paramJSON string) string {
	ctxJSON, err := json.Marshal(snippetContext{PolicyContext: c, Status: map[string]any{"healthy": healthy}})
	if err != nil {
		return ""
	}
	v, err := compile("customStatus", p.CustomStatus, string(ctxJSON), paramJSON)
	if err != nil {
		return ""
	}
	m, err := v.LookupPath(cue.ParsePath("message")).String()
	if err != nil {
		return ""
	}
	return m
}

// compile evaluates one snippet with `context` and `parameter` set. Only
// standard-library imports outside tool/ are allowed.
func compile(name, src, ctxJSON, paramJSON string) (cue.Value, error) {
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
	v := cuecontext.New().CompileString(src+"\ncontext: "+ctxJSON+"\nparameter: "+paramJSON+"\n", cue.Filename(name))
	if err := v.Err(); err != nil {
		return cue.Value{}, fmt.Errorf("%s: %w: %w", name, ErrPolicy, err)
	}
	return v, nil
}
