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

// entry is what a kind and name resolve to: a definition or a broken one.
type entry struct {
	def    *Definition
	broken *Broken
	seq    int // load order: the lower wins
}

// Registry resolves definition types by kind and name. The application
// repository's definitions win over capability repositories', which win
// over the built-in library. A definition file that cannot be loaded is
// kept as Broken: asking for it returns a *BrokenError, and it fails no
// other definition. A Registry is immutable and safe for concurrent use.
type Registry struct {
	cache   *Cache
	entries map[defKey]entry
	all     []*Definition
	broken  []*Broken
	modules []Module
	builtin bool
}

// NewRegistry loads the modules (in any order: they are ranked by Source;
// modules of the same Source keep their order, the first winning) and, if
// opts.Builtin, the built-in library. Only a module that cannot be read
// (missing, over its limits) is an error; a definition that cannot be
// loaded is recorded (see Broken).
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

	r := &Registry{cache: opts.Cache, entries: map[defKey]entry{}, modules: append([]Module(nil), modules...), builtin: opts.Builtin}
	for _, m := range mods {
		defs, broken, err := loadModule(ctx, opts.Cache, m, opts.Limits)
		if err != nil {
			return nil, err
		}
		for _, d := range defs {
			r.all = append(r.all, d)
			r.add(defKey{d.Kind, d.Name}, entry{def: d})
		}
		for _, b := range broken {
			r.broken = append(r.broken, b)
			r.add(defKey{b.Kind, b.Name}, entry{broken: b})
		}
	}
	return r, nil
}

func (r *Registry) add(k defKey, e entry) {
	if _, ok := r.entries[k]; ok {
		return
	}
	e.seq = len(r.entries)
	r.entries[k] = e
}

// loadModule reads and parses one module. A file that fails to load, or
// that defines a kind and name a file before it in the module defines, is
// returned as Broken.
func loadModule(ctx context.Context, cache *Cache, m Module, lim Limits) ([]*Definition, []*Broken, error) {
	files, err := readModule(ctx, m, lim)
	if err != nil {
		return nil, nil, err
	}
	var (
		defs   []*Definition
		broken []*Broken
		seen   = map[defKey]*Definition{}
	)
	for _, f := range files {
		origin := Origin{Source: m.Source, Module: m.Name, File: f.name, Revision: m.Revision}
		d, dprobs := cache.definition(f.name, f.src, origin)
		if d == nil {
			kind, name := identify(f.name, f.src)
			dprobs.sort()
			broken = append(broken, &Broken{Kind: kind, Name: name, Origin: origin, Problems: dprobs})
			continue
		}
		k := defKey{d.Kind, d.Name}
		if prev, ok := seen[k]; ok {
			broken = append(broken, &Broken{Kind: d.Kind, Name: d.Name, Origin: origin,
				Problems: Problems{{Pos: d.Pos, Msg: fmt.Sprintf("%s is defined twice in the module (first at %s)", d, prev.Pos)}}})
			continue
		}
		seen[k] = d
		defs = append(defs, d)
	}
	return defs, broken, nil
}

// Get returns the effective definition of a kind and name, or a
// *NotFoundError.
func (r *Registry) Get(kind Kind, name string) (*Definition, error) {
	e, ok := r.entries[defKey{kind, name}]
	if unnamed, found := r.entries[defKey{"", name}]; found && (!ok || unnamed.seq < e.seq) {
		e, ok = unnamed, true
	}
	switch {
	case !ok:
		return nil, &NotFoundError{Kind: kind, Name: name}
	case e.broken != nil:
		return nil, &BrokenError{Def: e.broken}
	}
	return e.def, nil
}

// Broken returns every definition file that could not be loaded, in load
// order (highest precedence first), shadowed ones included.
func (r *Registry) Broken() []*Broken { return append([]*Broken(nil), r.broken...) }

// List returns the effective definitions sorted by kind and name.
func (r *Registry) List() []*Definition {
	out := make([]*Definition, 0, len(r.entries))
	for _, e := range r.entries {
		if e.def != nil {
			out = append(out, e.def)
		}
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
