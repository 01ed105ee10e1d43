package source

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"golang.org/x/sys/unix"
)

// mappedPack is a pack file mapped into memory, with its objects.
type mappedPack struct {
	*packObjects
	mem []byte
}

func (m *mappedPack) close() {
	if m != nil && m.mem != nil {
		_ = unix.Munmap(m.mem)
		m.mem = nil
	}
}

// storePack writes r, a complete (not thin) pack, into the cache with an
// index it builds itself: each object is inflated and hashed, and each
// delta resolved from its base, chain by chain, so that only the bases of
// the current chain are held in memory. The pack stays mapped for the
// checkout that follows (c.pack). A pack this reader leaves to go-git
// (errPackUnsupported) is stored by go-git from the downloaded file.
func (c *repoCache) storePack(ctx context.Context, r io.Reader, o fetchOptions) error {
	dir := filepath.Join(c.dir, "objects", "pack")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "tmp-pack-")
	if err != nil {
		return err
	}
	defer func() { _ = f.Close(); _ = os.Remove(f.Name()) }()
	n, err := io.Copy(f, r)
	if err != nil {
		return err
	}
	if n == 0 {
		return packfile.ErrEmptyPackfile
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(n), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return err
	}
	m := &mappedPack{mem: mem}
	p, err := scanPack(mem, o.maxObjects, o.maxBytes)
	if err == nil && len(p.objs) == 0 {
		err = packfile.ErrEmptyPackfile
	}
	if err == nil {
		err = p.hashAll(ctx)
	}
	if errors.Is(err, errPackUnsupported) {
		m.close()
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		return packfile.UpdateObjectStorage(c.st, f)
	}
	if err != nil {
		m.close()
		return err
	}
	m.packObjects = p
	if err := c.installPack(f.Name(), plumbing.Hash(mem[n-20:]), p); err != nil {
		m.close()
		return err
	}
	c.pack.close()
	c.pack = m
	return nil
}

// installPack writes the index of p and moves the pack file tmp into
// place as pack-<sum>.pack, index first: go-git lists packs by their
// .pack file, so it never sees a pack without its index.
func (c *repoCache) installPack(tmp string, sum plumbing.Hash, p *packObjects) error {
	w := new(idxfile.Writer)
	if err := w.OnHeader(uint32(len(p.objs))); err != nil {
		return err
	}
	for _, o := range p.objs {
		w.Add(o.hash, uint64(o.offset), o.crc)
	}
	if err := w.OnFooter(sum); err != nil {
		return err
	}
	idx, err := w.Index()
	if err != nil {
		return err
	}
	dir := filepath.Dir(tmp)
	f, err := os.CreateTemp(dir, "tmp-idx-")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(f.Name()) }()
	_, err = idxfile.NewEncoder(f).Encode(idx)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	base := filepath.Join(dir, "pack-"+sum.String())
	if err := os.Rename(f.Name(), base+".idx"); err != nil {
		return err
	}
	if err := os.Rename(tmp, base+".pack"); err != nil {
		return err
	}
	c.st.Reindex()
	return nil
}
