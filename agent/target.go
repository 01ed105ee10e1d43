package agent

import (
	"context"
	"io/fs"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/capabilities"
	"github.com/carina-gitops/carina/render"
)

// Target is one cluster as the agent uses it, under one identity (the
// agent's, or a tenant's: see targetSet). The apply engine's Manager
// implements it; the interface is declared here, by its consumer, and
// kept to what the loop needs.
type Target interface {
	// Apply makes the cluster match set, prunes what left it and records
	// the inventory.
	Apply(ctx context.Context, set *apply.Set, opts apply.ApplyOptions) (*apply.ChangeSet, error)
	// ReadInventory returns the inventory of (app, env), nil when none.
	ReadInventory(ctx context.Context, app, env string) (*inventory.Inventory, error)
	// UpdateInventory changes an existing inventory (its Extra values).
	UpdateInventory(ctx context.Context, app, env string, fn func(*inventory.Inventory) error) error
	// Health reads the live objects of set once and computes their health.
	Health(ctx context.Context, set *apply.Set) (*apply.HealthReport, error)
	// Delete deletes what the inventory of (app, env) holds, honouring
	// prune policies, then the inventory; objects whose delete failed
	// stay in it for the next call.
	Delete(ctx context.Context, app, env string) (*apply.ChangeSet, error)
	// ListAllInventories returns the inventories of every namespace of
	// the cluster (tenants keep theirs in their own), each with the
	// namespace that holds it; with an error, those it could read.
	ListAllInventories(ctx context.Context) ([]apply.FoundInventory, error)
}

// ObjectHealth is the health of one live object.
type ObjectHealth = apply.ObjectHealth

var _ Target = (*apply.Manager)(nil)

// Renderer renders one application in one environment. render.Render
// through RenderFunc implements it; the render worker pool will too.
type Renderer interface {
	Render(ctx context.Context, app *appfile.Application, env appfile.Environment, reg *capabilities.Registry, fsys fs.FS, opts render.Options) (*render.Result, error)
}

// RenderFunc adapts a function, such as render.Render, to Renderer.
type RenderFunc func(ctx context.Context, app *appfile.Application, env appfile.Environment, reg *capabilities.Registry, fsys fs.FS, opts render.Options) (*render.Result, error)

// Render calls f.
func (f RenderFunc) Render(ctx context.Context, app *appfile.Application, env appfile.Environment, reg *capabilities.Registry, fsys fs.FS, opts render.Options) (*render.Result, error) {
	return f(ctx, app, env, reg, fsys, opts)
}

var _ Renderer = RenderFunc(render.Render)
