package capabilities

import (
	"sync"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/parser"
)

// NewCUEContext returns a CUE context with the evaluator version and debug
// flags set explicitly, so that CUE_EXPERIMENT and CUE_DEBUG in the
// environment never change how definitions evaluate.
func NewCUEContext() *cue.Context {
	return cuecontext.New(
		cuecontext.EvaluatorVersion(cuecontext.EvalV3),
		cuecontext.CUE_DEBUG(""),
	)
}

// CacheOptions bound a Cache.
type CacheOptions struct {
	// MaxEntries is the number of compiled templates kept. When it is
	// reached the cache starts afresh.
	MaxEntries int
}

// DefaultCacheOptions keeps 4096 compiled templates.
func DefaultCacheOptions() CacheOptions { return CacheOptions{MaxEntries: 4096} }

// CacheStats counts the cache's work.
type CacheStats struct {
	Hits        int64
	Misses      int64
	Entries     int
	CompileTime time.Duration
}

// Cache holds the CUE context that every definition of the registries using
// it is compiled in, and their compiled templates keyed by content digest.
// One Cache lives as long as the process and is shared by all registries;
// it is safe for concurrent use.
type Cache struct {
	ctx  *cue.Context
	opts CacheOptions

	mu      sync.Mutex
	entries map[string]*cacheEntry
	defs    map[string]*Definition
	stats   CacheStats
}

type cacheEntry struct {
	once sync.Once
	v    cue.Value
	err  error
	refs contextRefs
}

// NewCache returns an empty cache with its own CUE context.
func NewCache(opts CacheOptions) *Cache {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultCacheOptions().MaxEntries
	}
	return &Cache{ctx: NewCUEContext(), opts: opts, entries: map[string]*cacheEntry{}, defs: map[string]*Definition{}}
}

// Context is the CUE context the cache compiles in. Values filled into a
// template must come from it.
func (c *Cache) Context() *cue.Context { return c.ctx }

// Stats returns a snapshot of the cache counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Entries = len(c.entries)
	return s
}

// build compiles a file in the cache's context.
// Building is safe for concurrent use (the runtime locks its own index), and
// must not be serialised here: building evaluates what does not depend on
// context and parameter, so a runaway template would hold a lock forever.
func (c *Cache) build(f *ast.File) (cue.Value, error) {
	v := c.ctx.BuildFile(f)
	return v, v.Err()
}

// definition returns the parsed definition of a file, memoised by the
// file's name and content: loading a module whose files did not change costs
// a hash per file. The returned copy carries origin.
func (c *Cache) definition(filename string, src []byte, origin Origin) (*Definition, Problems) {
	digest := fileDigest(filename, src)
	c.mu.Lock()
	d, ok := c.defs[digest]
	c.mu.Unlock()
	if !ok {
		var probs Problems
		d, probs = parseDefinition(c, filename, src, origin)
		if len(probs) > 0 {
			return nil, probs
		}
		c.mu.Lock()
		if len(c.defs) >= c.opts.MaxEntries {
			c.defs = map[string]*Definition{}
		}
		c.defs[digest] = d
		c.mu.Unlock()
	}
	cp := *d
	origin.File = filename
	cp.Origin = origin
	return &cp, nil
}

func (c *Cache) template(d *Definition) (cue.Value, error) {
	e := c.entry(d)
	return e.v, e.err
}

// entry returns the compiled entry of a definition, compiling it once.
func (c *Cache) entry(d *Definition) *cacheEntry {
	c.mu.Lock()
	e, ok := c.entries[d.Digest]
	if ok {
		c.stats.Hits++
	} else {
		c.stats.Misses++
		if len(c.entries) >= c.opts.MaxEntries {
			c.entries = map[string]*cacheEntry{}
		}
		e = &cacheEntry{}
		c.entries[d.Digest] = e
	}
	c.mu.Unlock()
	e.once.Do(func() {
		start := time.Now()
		e.v, e.refs, e.err = c.compile(d)
		c.mu.Lock()
		c.stats.CompileTime += time.Since(start)
		c.mu.Unlock()
	})
	return e
}

func (c *Cache) compile(d *Definition) (cue.Value, contextRefs, error) {
	f, probs := templateFile(d.Origin.File, d.src)
	if len(probs) > 0 {
		return cue.Value{}, contextRefs{}, probs
	}
	refs := scanContextRefs(f)
	v, err := c.build(f)
	if err != nil {
		return cue.Value{}, refs, ProblemsFromCUE(err, d.Pos)
	}
	return v, refs, nil
}

// Snippet compiles a status snippet (a healthPolicy or customStatus) with
// open context and parameter fields, cached by content like templates.
// What is incomplete only because context and parameter are open (a
// field of the live object, a comprehension that branches on one) is not
// an error: it resolves when they are filled. Syntax errors, references
// to nothing and conflicts are.
func (c *Cache) Snippet(name, src string) (cue.Value, error) {
	d := &Definition{Name: name, src: []byte(src), Origin: Origin{File: name}}
	d.Digest = fileDigest("snippet:"+name, d.src)
	c.mu.Lock()
	e, ok := c.entries[d.Digest]
	if !ok {
		if len(c.entries) >= c.opts.MaxEntries {
			c.entries = map[string]*cacheEntry{}
		}
		e = &cacheEntry{}
		c.entries[d.Digest] = e
	}
	c.mu.Unlock()
	e.once.Do(func() {
		full := src + "\n" + contextField + ": _\n" + parameterField + ": _\n"
		f, err := parser.ParseFile(name, full, parser.ParseComments)
		if err != nil {
			e.err = ProblemsFromCUE(err, Position{File: name})
			return
		}
		e.v, e.err = c.build(f)
		if cue.IsIncomplete(e.err) {
			e.err = e.v.Validate()
		}
		if e.err != nil {
			e.err = ProblemsFromCUE(e.err, Position{File: name})
		}
	})
	return e.v, e.err
}
