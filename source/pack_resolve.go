package source

import (
	"context"
	"errors"

	"github.com/go-git/go-git/v5/plumbing"
)

const (
	// maxDeltaDepth bounds delta chains; git never makes them deeper
	// than 4095.
	maxDeltaDepth = 4096
	// heldBaseBytes bounds the delta bases held along one chain. Past it
	// the outermost bases are dropped, and rebuilt from their chain when
	// another delta needs them.
	heldBaseBytes = 16 << 20
)

// resolver walks the deltas of a pack base first, holding each base's
// content only while the deltas made from it are resolved.
type resolver struct {
	ctx   context.Context
	p     *packObjects
	need  []bool // objects to resolve: those visited and their bases
	visit func(i int32, content []byte) error
	stack [][]byte // content held per depth of the current chain
	held  int64
	delta []byte // scratch for a delta's data
	leaf  []byte // scratch for an object no delta is made from
	steps int
}

// walk calls visit with the content of every object for which want is
// true, resolving the deltas they need. Objects come chain by chain, a
// base before the deltas made from it.
func (p *packObjects) walk(ctx context.Context, want func(i int32) bool, visit func(i int32, content []byte) error) error {
	r := &resolver{ctx: ctx, p: p, need: make([]bool, len(p.objs)), visit: visit}
	wanted := false
	for i := range p.objs {
		if !want(int32(i)) {
			continue
		}
		wanted = true
		for j := int32(i); j >= 0 && !r.need[j]; j = p.objs[j].base {
			r.need[j] = true
		}
	}
	if !wanted {
		return nil
	}
	for i := range p.objs {
		o := &p.objs[i]
		if o.delta || !r.need[i] {
			continue
		}
		if r.steps++; r.steps%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		content, err := p.inflate(o, r.scratchFor(int32(i)))
		if err != nil {
			return err
		}
		r.keepScratch(int32(i), content)
		if want(int32(i)) {
			if err := visit(int32(i), content); err != nil {
				return err
			}
		}
		if o.child >= 0 {
			if err := r.descend(int32(i), content, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// scratchFor returns a buffer for the content of object i: a shared one
// when no delta is made from i (its content is not held), else nil for a
// fresh allocation.
func (r *resolver) scratchFor(i int32) []byte {
	if r.p.objs[i].child >= 0 {
		return nil
	}
	return r.leaf
}

// keepScratch keeps content, of object i, as the shared buffer when it
// came from scratchFor(i), so that a grown buffer is reused.
func (r *resolver) keepScratch(i int32, content []byte) {
	if r.p.objs[i].child < 0 {
		r.leaf = content
	}
}

// descend resolves the needed deltas made from object i, whose content
// is base, at chain depth depth.
func (r *resolver) descend(i int32, base []byte, depth int) error {
	if depth >= maxDeltaDepth {
		return packErrorf(r.p.objs[i].offset, "delta chain is deeper than %d", maxDeltaDepth)
	}
	r.push(depth, base)
	defer r.pop(depth)
	for c := r.p.objs[i].child; c >= 0; c = r.p.objs[c].next {
		if !r.need[c] {
			continue
		}
		if r.steps++; r.steps%256 == 0 {
			if err := r.ctx.Err(); err != nil {
				return err
			}
		}
		base := r.stack[depth]
		if base == nil {
			var err error
			if base, err = r.rebuild(i); err != nil {
				return err
			}
			r.push(depth, base)
		}
		content, err := r.resolve(c, base)
		if err != nil {
			return err
		}
		if err := r.visit(c, content); err != nil {
			return err
		}
		if r.p.objs[c].child >= 0 {
			if err := r.descend(c, content, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// resolve applies delta c to base and records c's type and size.
func (r *resolver) resolve(c int32, base []byte) ([]byte, error) {
	o := &r.p.objs[c]
	var err error
	if r.delta, err = r.p.inflate(o, r.delta); err != nil {
		return nil, err
	}
	content, err := applyDelta(r.scratchFor(c), base, r.delta, r.p.maxObject)
	if err != nil {
		var le *LimitError
		if errors.As(err, &le) {
			return nil, err
		}
		return nil, packErrorf(o.offset, "%v", err)
	}
	r.keepScratch(c, content)
	o.typ = r.p.objs[o.base].typ
	o.size = int64(len(content))
	return content, nil
}

// rebuild makes the content of object i again from its chain, after it
// was dropped to keep the held bases under heldBaseBytes.
func (r *resolver) rebuild(i int32) ([]byte, error) {
	r.p.rebuilds++
	var chain []int32
	for j := i; j >= 0; j = r.p.objs[j].base {
		chain = append(chain, j)
	}
	content, err := r.p.inflate(&r.p.objs[chain[len(chain)-1]], nil)
	if err != nil {
		return nil, err
	}
	for k := len(chain) - 2; k >= 0; k-- {
		o := &r.p.objs[chain[k]]
		if r.delta, err = r.p.inflate(o, r.delta); err != nil {
			return nil, err
		}
		if content, err = applyDelta(nil, content, r.delta, r.p.maxObject); err != nil {
			return nil, packErrorf(o.offset, "%v", err)
		}
	}
	return content, nil
}

// push holds content at depth, dropping the outermost held bases while
// the total is over heldBaseBytes.
func (r *resolver) push(depth int, content []byte) {
	for len(r.stack) <= depth {
		r.stack = append(r.stack, nil)
	}
	r.stack[depth] = content
	r.held += int64(len(content))
	for d := 0; d < depth && r.held > r.p.heldLimit; d++ {
		if r.stack[d] != nil {
			r.held -= int64(len(r.stack[d]))
			r.stack[d] = nil
		}
	}
}

func (r *resolver) pop(depth int) {
	r.held -= int64(len(r.stack[depth]))
	r.stack[depth] = nil
}

// hashAll resolves every delta of the pack and records its hash.
func (p *packObjects) hashAll(ctx context.Context) error {
	return p.walk(ctx, func(i int32) bool { return p.objs[i].delta }, func(i int32, content []byte) error {
		o := &p.objs[i]
		h := plumbing.NewHasher(o.typ, int64(len(content)))
		_, _ = h.Write(content)
		o.hash = h.Sum()
		return nil
	})
}
