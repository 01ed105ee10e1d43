package agent

import (
	"context"
	"io/fs"

	"github.com/carina-gitops/carina/agent/metrics"
	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/capabilities"
	"github.com/carina-gitops/carina/internal/panics"
	"github.com/carina-gitops/carina/render"
)

// containedRenderer makes a panic of any Renderer an error of that
// render (a *panics.Error of component render, with its stack), so that
// it is reported, counted and retried like the render's own panics are,
// instead of failing the whole work item (or, in the restorer, the
// process).
type containedRenderer struct{ r Renderer }

func (c containedRenderer) Render(ctx context.Context, app *appfile.Application, env appfile.Environment, reg *capabilities.Registry, fsys fs.FS, opts render.Options) (res *render.Result, err error) {
	defer panics.Recover(metrics.PanicRender, &err)
	return c.r.Render(ctx, app, env, reg, fsys, opts)
}

// applyContained is t.Apply with a panic of the Target made an error of
// that apply (component apply).
func applyContained(ctx context.Context, t Target, set *apply.Set, opts apply.ApplyOptions) (cs *apply.ChangeSet, err error) {
	defer panics.Recover(metrics.PanicApply, &err)
	return t.Apply(ctx, set, opts)
}
