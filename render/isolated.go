package render

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"sync"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/capabilities"
	"github.com/carina-gitops/carina/render/pool"
)

// DiskFS is a confined file tree backed by a directory, which a worker
// process can open again (source.DirFS is one).
type DiskFS interface {
	fs.FS
	DiskDir() string
}

// Isolated renders in worker processes, so that a render past its deadline
// or over its memory limit is killed instead of burning CPU in the caller.
// Its Render has the signature of the package-level Render.
type Isolated struct {
	pool *pool.Pool
}

// NewIsolated renders through p. Its workers must call
// pool.ServeMain(ctx, WorkerHandler(...)) at start (see cmd/carina).
func NewIsolated(p *pool.Pool) *Isolated { return &Isolated{pool: p} }

// job is one render request sent to a worker.
type job struct {
	App     *appfile.Application `json:"app"`
	Env     appfile.Environment  `json:"env"`
	RepoDir string               `json:"repoDir"`
	Modules []moduleSpec         `json:"modules"`
	Builtin bool                 `json:"builtin"`
	Options Options              `json:"options"`
}

// moduleSpec is a capabilities.Module whose file tree is a directory.
type moduleSpec struct {
	Source   capabilities.Source `json:"source"`
	Name     string              `json:"name,omitempty"`
	Root     string              `json:"root"`
	Dir      string              `json:"dir"`
	Revision string              `json:"revision,omitempty"`
	Optional bool                `json:"optional,omitempty"`
}

// Render renders app in env in a worker. fsys and every module of reg
// must be DiskFS. opts.Timeout bounds the render, as with Render; Helm's
// HTTP client is the worker's default.
func (i *Isolated) Render(ctx context.Context, app *appfile.Application, env appfile.Environment, reg *capabilities.Registry, fsys fs.FS, opts Options) (*Result, error) {
	req, err := newJob(app, env, reg, fsys, opts)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("render of application %s (env %s): %w", app.Name, env.Name, err)
	}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	out, err := i.pool.Do(ctx, data)
	if err != nil {
		return nil, fmt.Errorf("render of application %s (env %s): %w", app.Name, env.Name, err)
	}
	var res Result
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("render of application %s (env %s): bad worker response: %w", app.Name, env.Name, err)
	}
	return &res, nil
}

func newJob(app *appfile.Application, env appfile.Environment, reg *capabilities.Registry, fsys fs.FS, opts Options) (*job, error) {
	repo, ok := fsys.(DiskFS)
	if !ok {
		return nil, fmt.Errorf("render of application %s in a worker needs the repository on disk (got %T)", app.Name, fsys)
	}
	j := &job{App: app, Env: env, RepoDir: repo.DiskDir(), Builtin: reg.Builtin(), Options: opts}
	j.Options.Engines.Helm.HTTPClient = nil
	// The parent's deadline, which kills the worker, is the only one: a
	// worker that timed out by itself would answer a plain job error and
	// be kept, its runaway evaluation still running.
	j.Options.Timeout = 0
	for _, m := range reg.Modules() {
		d, ok := m.FS.(DiskFS)
		if !ok {
			return nil, fmt.Errorf("definition module %s in a worker needs to be on disk (got %T)", m.Name, m.FS)
		}
		j.Modules = append(j.Modules, moduleSpec{Source: m.Source, Name: m.Name, Root: d.DiskDir(), Dir: m.Dir, Revision: m.Revision, Optional: m.Optional})
	}
	return j, nil
}

// WorkerHandler is the worker side of Isolated. openFS opens a directory
// as a confined file tree (source.DirFS). A worker keeps its compiled
// templates and the registries of recent jobs, so a warm worker renders
// as fast as the caller would in process.
func WorkerHandler(openFS func(dir string) fs.FS) pool.Handler {
	w := &workerState{openFS: openFS, cache: capabilities.NewCache(capabilities.DefaultCacheOptions()), regs: map[string]*capabilities.Registry{}}
	return w.handle
}

type workerState struct {
	openFS func(string) fs.FS
	cache  *capabilities.Cache
	mu     sync.Mutex
	regs   map[string]*capabilities.Registry
}

// maxRegistries bounds the registries a worker keeps.
const maxRegistries = 32

func (w *workerState) handle(ctx context.Context, data []byte) ([]byte, error) {
	var j job
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("bad render job: %w", err)
	}
	reg, err := w.registry(ctx, &j)
	if err != nil {
		return nil, err
	}
	repo := w.openFS(j.RepoDir)
	res, err := Render(ctx, j.App, j.Env, reg, repo, j.Options)
	if err != nil {
		return nil, err
	}
	if err := Decrypt(ctx, res, repo, j.Options.Decryption); err != nil {
		return nil, err
	}
	return json.Marshal(res)
}

func (w *workerState) registry(ctx context.Context, j *job) (*capabilities.Registry, error) {
	key, err := json.Marshal(struct {
		M []moduleSpec
		B bool
	}{j.Modules, j.Builtin})
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if reg, ok := w.regs[string(key)]; ok {
		return reg, nil
	}
	mods := make([]capabilities.Module, len(j.Modules))
	for i, m := range j.Modules {
		mods[i] = capabilities.Module{Source: m.Source, Name: m.Name, FS: w.openFS(m.Root), Dir: m.Dir, Revision: m.Revision, Optional: m.Optional}
	}
	opts := capabilities.DefaultOptions()
	opts.Cache, opts.Builtin = w.cache, j.Builtin
	reg, err := capabilities.NewRegistry(ctx, opts, mods...)
	if err != nil {
		return nil, err
	}
	if len(w.regs) >= maxRegistries {
		clear(w.regs)
	}
	w.regs[string(key)] = reg
	return reg, nil
}
