package source

import (
	"context"
	"fmt"
	"os"

	"github.com/go-git/go-git/v5/plumbing"
)

// packCheckout collects the files of a checkout whose blobs are in a pack
// the cache has just indexed, and writes them in one walk over the pack:
// each delta chain is resolved once, base first, holding only the bases of
// the chain. Reading blob by blob in path order instead rebuilds chains
// through go-git's object cache, which must then hold the whole working
// set.
type packCheckout struct {
	p       *packObjects
	blobs   map[plumbing.Hash]int32
	pending map[int32][]pendingFile
}

// pendingFile is a file to write from a blob.
type pendingFile struct {
	path    string
	perm    os.FileMode
	symlink bool
}

func newPackCheckout(p *packObjects) *packCheckout {
	blobs := make(map[plumbing.Hash]int32)
	for i, o := range p.objs {
		if o.typ == plumbing.BlobObject {
			blobs[o.hash] = int32(i)
		}
	}
	return &packCheckout{p: p, blobs: blobs, pending: make(map[int32][]pendingFile)}
}

// size returns the size of blob h, and whether the pack holds it.
func (pf *packCheckout) size(h plumbing.Hash) (int64, bool) {
	if pf == nil {
		return 0, false
	}
	i, ok := pf.blobs[h]
	if !ok {
		return 0, false
	}
	return pf.p.objs[i].size, true
}

// add queues f, to be written from blob h, which the pack holds.
func (pf *packCheckout) add(h plumbing.Hash, f pendingFile) {
	i := pf.blobs[h]
	pf.pending[i] = append(pf.pending[i], f)
}

// write writes every queued file. The blobs were hashed when the pack was
// indexed, from the same mapped bytes, so they are not hashed again.
func (pf *packCheckout) write(ctx context.Context) error {
	if pf == nil || len(pf.pending) == 0 {
		return nil
	}
	return pf.p.walk(ctx, func(i int32) bool { return pf.pending[i] != nil }, func(i int32, content []byte) error {
		for _, f := range pf.pending[i] {
			if err := writeContent(f, content); err != nil {
				return err
			}
		}
		return nil
	})
}

// writeContent writes one file or symlink with content.
func writeContent(f pendingFile, content []byte) error {
	if f.symlink {
		return symlink(content, f.path)
	}
	w, err := createFile(f.path, f.perm)
	if err != nil {
		return err
	}
	_, err = w.Write(content)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", f.path, err)
	}
	return nil
}
