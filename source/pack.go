package source

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sort"

	"github.com/go-git/go-git/v5/plumbing"
)

// A pack is read in place, from memory that maps the pack file, and its
// deltas are resolved base first, one chain at a time: an object's content
// is held only while the deltas made from it are resolved. go-git's
// parser instead keeps every delta base it meets in a 96 MiB cache, which
// is what made the first fetch peak at 2.3 times the tree in heap.

// errPackUnsupported marks a pack this reader leaves to go-git: one with a
// delta whose base is named by hash and is not a whole object of the pack,
// or with more objects than a snapshot can need.
var errPackUnsupported = errors.New("pack left to go-git")

// packObject is one object of a pack.
type packObject struct {
	offset int64 // of its header
	data   int64 // of its compressed data
	raw    int64 // size of the inflated data: the object's, or its delta's
	size   int64 // size of the object, once known
	hash   plumbing.Hash
	typ    plumbing.ObjectType // of the object; a delta's is its base's
	delta  bool
	crc    uint32
	base   int32 // index of the delta base, -1 for a whole object
	child  int32 // first delta made from it, -1 for none
	next   int32 // next delta made from the same base, -1 for none
}

// packObjects is a pack held in memory (mapped from its file) and what
// is known of its objects, in pack order.
type packObjects struct {
	data      []byte // the pack without its trailer
	objs      []packObject
	maxObject int64
	heldLimit int64 // see heldBaseBytes
	rebuilds  int   // bases rebuilt after being dropped
	br        bytes.Reader
	zr        io.ReadCloser
	buf       []byte // for copying inflated data
}

// packErrorf makes an error that says where in the pack the problem is;
// it never carries content.
func packErrorf(off int64, format string, args ...any) error {
	return fmt.Errorf("pack offset %d: %s", off, fmt.Sprintf(format, args...))
}

// scanPack reads the header of every object of data, a complete pack
// with its trailer (the SHA-1 of the rest, which it checks), hashes the
// whole objects, and links each delta to its base. maxObjects and
// maxObject bound the object count and any one object's size.
func scanPack(data []byte, maxObjects int, maxObject int64) (*packObjects, error) {
	if len(data) < 32 || string(data[:4]) != "PACK" {
		return nil, errors.New("not a pack")
	}
	if v := binary.BigEndian.Uint32(data[4:8]); v != 2 && v != 3 {
		return nil, fmt.Errorf("pack version %d is not supported", v)
	}
	body := len(data) - 20
	if sha1.Sum(data[:body]) != [20]byte(data[body:]) {
		return nil, errors.New("pack checksum mismatch")
	}
	count := int64(binary.BigEndian.Uint32(data[8:12]))
	if count > int64(maxObjects) || count > int64(body)/2 {
		return nil, errPackUnsupported
	}
	p := &packObjects{data: data[:body], objs: make([]packObject, count), maxObject: maxObject, heldLimit: heldBaseBytes}
	var byHash map[plumbing.Hash]int32
	pos := int64(12)
	for i := range p.objs {
		o := &p.objs[i]
		*o = packObject{offset: pos, base: -1, child: -1, next: -1}
		baseOff, ref, err := p.readHeader(o)
		if err != nil {
			return nil, err
		}
		switch {
		case o.delta && ref.IsZero():
			if o.base = p.find(baseOff, i); o.base < 0 {
				return nil, packErrorf(o.offset, "delta base at offset %d is not an object", baseOff)
			}
		case o.delta:
			if byHash == nil {
				byHash = p.wholeByHash(i)
			}
			b, ok := byHash[ref]
			if !ok {
				return nil, errPackUnsupported
			}
			o.base = b
		}
		end, err := p.hashOrSkip(o)
		if err != nil {
			return nil, err
		}
		o.crc = crc32.ChecksumIEEE(p.data[o.offset:end])
		pos = end
		if !o.delta && byHash != nil {
			byHash[o.hash] = int32(i)
		}
	}
	if pos != int64(body) {
		return nil, packErrorf(pos, "%d bytes after the last object", int64(body)-pos)
	}
	p.link()
	return p, nil
}

// byteAt returns the pack's byte at off.
func (p *packObjects) byteAt(off int64) (byte, error) {
	if off >= int64(len(p.data)) {
		return 0, packErrorf(off, "truncated object header")
	}
	return p.data[off], nil
}

// readHeader decodes the header at o.offset: type, size and, for a delta,
// its base, as an offset or as a hash.
func (p *packObjects) readHeader(o *packObject) (int64, plumbing.Hash, error) {
	var ref plumbing.Hash
	pos := o.offset
	c, err := p.byteAt(pos)
	if err != nil {
		return 0, ref, err
	}
	pos++
	typ := plumbing.ObjectType((c >> 4) & 7)
	size := int64(c & 15)
	for shift := 4; c&0x80 != 0; shift += 7 {
		if shift > 56 {
			return 0, ref, packErrorf(o.offset, "object size overflows")
		}
		if c, err = p.byteAt(pos); err != nil {
			return 0, ref, err
		}
		pos++
		size |= int64(c&0x7f) << shift
	}
	if size > p.maxObject {
		return 0, ref, &LimitError{Limit: LimitBytes, Max: p.maxObject}
	}
	o.raw, o.size, o.typ = size, size, typ
	var baseOff int64
	switch typ {
	case plumbing.CommitObject, plumbing.TreeObject, plumbing.BlobObject, plumbing.TagObject:
	case plumbing.OFSDeltaObject:
		o.delta = true
		if c, err = p.byteAt(pos); err != nil {
			return 0, ref, err
		}
		pos++
		back := int64(c & 0x7f)
		for c&0x80 != 0 {
			if back >= 1<<55 {
				return 0, ref, packErrorf(o.offset, "delta base offset overflows")
			}
			if c, err = p.byteAt(pos); err != nil {
				return 0, ref, err
			}
			pos++
			back = (back+1)<<7 | int64(c&0x7f)
		}
		if back <= 0 || back > o.offset-12 {
			return 0, ref, packErrorf(o.offset, "delta base is outside the pack")
		}
		baseOff = o.offset - back
	case plumbing.REFDeltaObject:
		o.delta = true
		if pos+20 > int64(len(p.data)) {
			return 0, ref, packErrorf(o.offset, "truncated delta base")
		}
		copy(ref[:], p.data[pos:pos+20])
		pos += 20
	default:
		return 0, ref, packErrorf(o.offset, "object type %d is not valid", typ)
	}
	o.data = pos
	return baseOff, ref, nil
}

// find returns the index, below i, of the object at offset off, or -1.
func (p *packObjects) find(off int64, i int) int32 {
	j := sort.Search(i, func(k int) bool { return p.objs[k].offset >= off })
	if j < i && p.objs[j].offset == off {
		return int32(j)
	}
	return -1
}

// wholeByHash indexes the whole objects among the first n by hash.
func (p *packObjects) wholeByHash(n int) map[plumbing.Hash]int32 {
	m := make(map[plumbing.Hash]int32)
	for i := range n {
		if !p.objs[i].delta {
			m[p.objs[i].hash] = int32(i)
		}
	}
	return m
}

// hashOrSkip inflates o's data: a whole object is hashed, a delta only
// skipped. It returns the offset just past the compressed data.
func (p *packObjects) hashOrSkip(o *packObject) (int64, error) {
	zr, err := p.inflater(o)
	if err != nil {
		return 0, err
	}
	var w io.Writer = io.Discard
	var h plumbing.Hasher
	if !o.delta {
		h = plumbing.NewHasher(o.typ, o.size)
		w = h
	}
	if p.buf == nil {
		p.buf = make([]byte, 32<<10)
	}
	if err := copyExactly(w, zr, o.raw, p.buf); err != nil {
		return 0, packErrorf(o.offset, "%v", err)
	}
	if !o.delta {
		o.hash = h.Sum()
	}
	return int64(len(p.data)) - int64(p.br.Len()), nil
}

// inflater returns a reader of o's inflated data; reading it to the end
// leaves p.br just past the compressed data.
func (p *packObjects) inflater(o *packObject) (io.Reader, error) {
	p.br.Reset(p.data)
	if _, err := p.br.Seek(o.data, io.SeekStart); err != nil {
		return nil, err
	}
	var err error
	if p.zr == nil {
		p.zr, err = zlib.NewReader(&p.br)
	} else {
		err = p.zr.(zlib.Resetter).Reset(&p.br, nil)
	}
	if err != nil {
		return nil, packErrorf(o.offset, "%v", err)
	}
	return p.zr, nil
}

// copyExactly copies n bytes from r to w through buf and checks that r
// ends there, which makes the zlib reader verify its checksum.
func copyExactly(w io.Writer, r io.Reader, n int64, buf []byte) error {
	if m, err := io.CopyBuffer(w, io.LimitReader(r, n), buf); err != nil || m != n {
		return fmt.Errorf("object data is shorter than its header says: %w", errOr(err, io.ErrUnexpectedEOF))
	}
	return atEnd(r)
}

// atEnd checks that r, an inflating reader, has no data left; reading its
// end makes zlib verify the checksum.
func atEnd(r io.Reader) error {
	var one [1]byte
	if m, err := r.Read(one[:]); m != 0 || err != io.EOF {
		return fmt.Errorf("object data is longer than its header says: %w", errOr(err, errors.New("extra data")))
	}
	return nil
}

func errOr(err, alt error) error {
	if err != nil && err != io.EOF {
		return err
	}
	return alt
}

// inflate returns o's inflated data in buf, grown as needed.
func (p *packObjects) inflate(o *packObject, buf []byte) ([]byte, error) {
	zr, err := p.inflater(o)
	if err != nil {
		return nil, err
	}
	if int64(cap(buf)) < o.raw {
		buf = make([]byte, o.raw)
	}
	buf = buf[:o.raw]
	if _, err := io.ReadFull(zr, buf); err != nil {
		return nil, packErrorf(o.offset, "object data is shorter than its header says: %v", err)
	}
	if err := atEnd(zr); err != nil {
		return nil, packErrorf(o.offset, "%v", err)
	}
	return buf, nil
}

// link makes the lists of deltas made from each object, in pack order.
func (p *packObjects) link() {
	for i := len(p.objs) - 1; i >= 0; i-- {
		if b := p.objs[i].base; b >= 0 {
			p.objs[i].next = p.objs[b].child
			p.objs[b].child = int32(i)
		}
	}
}
