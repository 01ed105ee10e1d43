package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/capabilities"
	"github.com/carina-gitops/carina/internal/panics"
	"github.com/carina-gitops/carina/render/cue"
)

// ErrEmpty is returned for a render without objects when the application
// does not set allowEmpty.
var ErrEmpty = errors.New("render produced no objects (set allowEmpty to allow it)")

// Render renders one application in one environment: it applies the
// environment's override policies, validates the policies, renders every
// component (CUE, Helm, Kustomize or manifests) and applies its traits,
// then labels, namespaces, checks, sorts and digests the objects.
//
// fsys is the repository's file tree, confined to its root; the
// application's paths are relative to app.Dir inside it. Errors of all
// components are reported together; an error never comes with a partial
// result.
//
// The render runs in its own goroutine and Render returns when ctx (or
// opts.Timeout) expires. CUE evaluation cannot be interrupted, so a
// runaway template keeps that goroutine (and a CPU) busy until the
// evaluation ends: the leak the worker-process pool will close by killing
// the worker.
func Render(ctx context.Context, app *appfile.Application, env appfile.Environment, reg *capabilities.Registry, fsys fs.FS, opts Options) (*Result, error) {
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	type outcome struct {
		res *Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- outcome{err: fmt.Errorf("render of application %s (env %s): %w", app.Name, env.Name, panics.From("render", p))}
			}
		}()
		r := &renderer{app: app, env: env, reg: reg, fsys: fsys, opts: opts, scope: newScope(opts.ClusterScopedKinds)}
		kv := opts.KubeVersion
		if kv == "" {
			kv = DefaultKubeVersion
		}
		cv, err := cue.ParseClusterVersion(kv)
		if err != nil {
			done <- outcome{err: fmt.Errorf("render of application %s (env %s): %w", app.Name, env.Name, err)}
			return
		}
		if opts.KubePlatform != "" {
			cv.Platform = opts.KubePlatform
		}
		r.clusterVersion = cv
		res, err := r.run(ctx)
		done <- outcome{res, err}
	}()
	select {
	case o := <-done:
		if o.err != nil {
			return nil, o.err
		}
		return o.res, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("render of application %s (env %s) stopped: %w", app.Name, env.Name, ctx.Err())
	}
}

// renderer holds one render's inputs.
type renderer struct {
	app   *appfile.Application
	env   appfile.Environment
	reg   *capabilities.Registry
	fsys  fs.FS
	opts  Options
	scope scope

	clusterVersion cue.ClusterVersion
	warnings       []string
}

// run is the pipeline of one render.
func (r *renderer) run(ctx context.Context) (*Result, error) {
	comps, err := r.components(ctx)
	if err != nil {
		return nil, err
	}
	objs, err := r.renderComponents(ctx, comps)
	if err != nil {
		return nil, err
	}
	if err := r.checkObjects(objs); err != nil {
		return nil, err
	}
	if len(objs) == 0 && !r.app.AllowEmpty {
		return nil, fmt.Errorf("%sapplication %s (env %s): %w", at(r.app.Pos), r.app.Name, r.env.Name, ErrEmpty)
	}
	sortObjects(objs)
	sum, n, err := digest(objs, r.opts.MaxOutputBytes)
	if err != nil {
		return nil, fmt.Errorf("application %s (env %s): %w", r.app.Name, r.env.Name, err)
	}
	return &Result{
		App: r.app.Name, Env: r.env.Name, File: r.app.Pos.File, Namespace: r.namespace(), Cluster: r.cluster(),
		Objects: objs, Digest: sum, Bytes: n, Warnings: r.warnings,
	}, nil
}

// components validates the policies and returns the components after the
// environment's overrides.
func (r *renderer) components(ctx context.Context) ([]appfile.Component, error) {
	var errs []error
	for _, p := range r.policies() {
		if _, err := r.policyProps(ctx, p); err != nil {
			errs = append(errs, err)
		}
	}
	props := make([]map[string]any, len(r.env.Overrides))
	for i, p := range r.env.Overrides {
		var err error
		if props[i], err = r.policyProps(ctx, p); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return applyOverrides(r.app.Components, r.env.Overrides, props)
}

// policies lists the application's policies and the environment's, once
// each by name.
func (r *renderer) policies() []appfile.Policy {
	seen := map[string]bool{}
	var out []appfile.Policy
	for _, list := range [][]appfile.Policy{r.app.Policies, r.env.Policies} {
		for _, p := range list {
			if !seen[p.Name] {
				seen[p.Name] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// policyProps validates a policy's properties against its definition and
// returns them with defaults.
func (r *renderer) policyProps(ctx context.Context, p appfile.Policy) (map[string]any, error) {
	def, err := r.reg.Get(capabilities.KindPolicy, p.Type)
	if err != nil {
		return nil, fmt.Errorf("%spolicy %q: %w", at(p.Pos), p.Name, err)
	}
	props, err := cue.Defaults(ctx, def, p.Properties, r.context(appfile.Component{Name: p.Name, Type: p.Type}))
	if err != nil {
		return nil, fmt.Errorf("%spolicy %q: %w", at(p.Pos), p.Name, err)
	}
	return props, nil
}

// renderComponents renders every component and reports all their errors.
func (r *renderer) renderComponents(ctx context.Context, comps []appfile.Component) ([]Object, error) {
	var (
		objs []Object
		errs []error
	)
	for _, c := range comps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out, err := r.component(ctx, c)
		if err != nil {
			errs = append(errs, fmt.Errorf("%scomponent %q: %w", at(c.Pos), c.Name, err))
			continue
		}
		objs = append(objs, out...)
		if r.opts.MaxObjects > 0 && len(objs) > r.opts.MaxObjects {
			return nil, fmt.Errorf("application %s (env %s): %w", r.app.Name, r.env.Name, &BudgetError{What: "objects", Limit: int64(r.opts.MaxObjects)})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return objs, nil
}

// checkObjects finalizes every object and refuses two objects with the
// same identity.
func (r *renderer) checkObjects(objs []Object) error {
	seen := map[string]Object{}
	var errs []error
	for _, o := range objs {
		if err := finalize(o.Object, r.app.Name, r.env.Name, o.Component, r.namespace(), r.scope); err != nil {
			errs = append(errs, fmt.Errorf("component %q (%s): %w", o.Component, o.Definition, err))
			continue
		}
		id := objectID(o.Object)
		if prev, ok := seen[id]; ok {
			errs = append(errs, fmt.Errorf("%s is rendered twice: by component %q (%s) and by component %q (%s)",
				objectRef(o.Object), prev.Component, prev.Definition, o.Component, o.Definition))
			continue
		}
		seen[id] = o
	}
	return errors.Join(errs...)
}

func (r *renderer) namespace() string {
	switch {
	case r.env.Namespace != "":
		return r.env.Namespace
	case r.app.Namespace != "":
		return r.app.Namespace
	default:
		return "default"
	}
}

func (r *renderer) cluster() string {
	switch {
	case r.opts.Cluster != "":
		return r.opts.Cluster
	case len(r.env.Clusters) > 0:
		return r.env.Clusters[0]
	default:
		return "local"
	}
}

// context builds KubeVela's context for a component.
func (r *renderer) context(c appfile.Component) cue.Context {
	num := r.opts.RevisionNum
	if num <= 0 {
		num = 1
	}
	publish := r.opts.PublishVersion
	if publish == "" {
		publish = r.app.Annotations["app.oam.dev/publishVersion"]
	}
	return cue.Context{
		Name:           c.Name,
		AppName:        r.app.Name,
		Namespace:      r.namespace(),
		Cluster:        r.cluster(),
		AppRevision:    fmt.Sprintf("%s-v%d", r.app.Name, num),
		AppRevisionNum: num,
		Revision:       fmt.Sprintf("%s-v%d", c.Name, num),
		AppLabels:      r.app.Labels,
		AppAnnotations: r.app.Annotations,
		ComponentType:  c.Type,
		PublishVersion: publish,
		WorkflowName:   r.app.Name,
		StepName:       r.env.Step,
		ClusterVersion: r.clusterVersion,
		PullRequest:    r.opts.PullRequest,
	}
}

// toUnstructured wraps plain object values.
func toUnstructured(m map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: m}
}
