package capabilities

import (
	"context"
	"fmt"
	"sort"
)

// Options configure a Registry.
type Options struct {
	// Cache holds the CUE context and compiled templates; share one per
	// process. Nil makes a private cache.
	Cache *Cache
	// Limits bound each module read.
	Limits Limits
	// Builtin adds the embedded built-in library as the lowest-precedence
	// source.
	Builtin bool
}

// DefaultOptions reads modules with DefaultLimits and includes the
// built-in library.
func DefaultOptions() Options {
	return Options{Limits: DefaultLimits(), Builtin: true}
}

type defKey struct {
	kind Kind
	name string
}

// Registry resolves definition types by kind and name. The application
// repository's definitions win over capability repositories', which win
// over the built-in library. A Registry is immutable and safe for
// concurrent use.
type Registry struct {
	cache   *Cache
	defs    map[defKey]*Definition
	all     []*Definition
	modules []Module
	builtin bool
}

// NewRegistry loads the modules (in any order: they are ranked by Source;
// modules of the same Source keep their order, the first winning) and, if
// opts.Builtin, the built-in library. It reports every problem of every
// module at once.
func NewRegistry(ctx context.Context, opts Options, modules ...Module) (*Registry, error) {
	if opts.Cache == nil {
		opts.Cache = NewCache(DefaultCacheOptions())
	}
	if opts.Limits == (Limits{}) {
		opts.Limits = DefaultLimits()
	}
	mods := append([]Module(nil), modules...)
	if opts.Builtin {
		mods = append(mods, BuiltinModule())
	}
	sort.SliceStable(mods, func(i, j int) bool { return mods[i].Source.rank() < mods[j].Source.rank() })

	r := &Registry{cache: opts.Cache, defs: map[defKey]*Definition{}, modules: append([]Module(nil), modules...), builtin: opts.Builtin}
	var probs Problems
	for _, m := range mods {
		defs, mprobs, err := loadModule(ctx, opts.Cache, m, opts.Limits)
		if err != nil {
			return nil, err
		}
		probs = append(probs, mprobs...)
		for _, d := range defs {
			k := defKey{d.Kind, d.Name}
			r.all = append(r.all, d)
			if _, ok := r.defs[k]; !ok {
				r.defs[k] = d
			}
		}
	}
	if len(probs) > 0 {
		probs.sort()
		return nil, probs
	}
	return r, nil
}

// loadModule reads and parses one module; two files of the module that
// define the same kind and name are a problem.
func loadModule(ctx context.Context, cache *Cache, m Module, lim Limits) ([]*Definition, Problems, error) {
	files, err := readModule(ctx, m, lim)
	if err != nil {
		return nil, nil, err
	}
	var (
		defs  []*Definition
		probs Problems
		seen  = map[defKey]*Definition{}
	)
	for _, f := range files {
		origin := Origin{Source: m.Source, Module: m.Name, File: f.name, Revision: m.Revision}
		d, dprobs := cache.definition(f.name, f.src, origin)
		probs = append(probs, dprobs...)
		if d == nil {
			continue
		}
		k := defKey{d.Kind, d.Name}
		if prev, ok := seen[k]; ok {
			probs = append(probs, Problem{Pos: d.Pos, Msg: fmt.Sprintf("%s is defined twice in the module (first at %s)", d, prev.Pos)})
			continue
		}
		seen[k] = d
		defs = append(defs, d)
	}
	return defs, probs, nil
}

// Get returns the effective definition of a kind and name, or a
// *NotFoundError.
func (r *Registry) Get(kind Kind, name string) (*Definition, error) {
	if d, ok := r.defs[defKey{kind, name}]; ok {
		return d, nil
	}
	return nil, &NotFoundError{Kind: kind, Name: name}
}

// List returns the effective definitions sorted by kind and name.
func (r *Registry) List() []*Definition {
	out := make([]*Definition, 0, len(r.defs))
	for _, d := range r.defs {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Shadowed returns the definitions of the same kind and name that d hides,
// highest precedence first.
func (r *Registry) Shadowed(d *Definition) []*Definition {
	var out []*Definition
	for _, o := range r.all {
		if o != d && o.Kind == d.Kind && o.Name == d.Name {
			out = append(out, o)
		}
	}
	return out
}

// Modules returns the modules the registry was built from, without the
// built-in library (see Builtin), so that another process can build the
// same registry again.
func (r *Registry) Modules() []Module { return append([]Module(nil), r.modules...) }

// Builtin reports whether the registry includes the built-in library.
func (r *Registry) Builtin() bool { return r.builtin }

// Cache returns the cache the registry compiles in.
func (r *Registry) Cache() *Cache { return r.cache }
