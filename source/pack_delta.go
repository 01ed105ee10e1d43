package source

import (
	"errors"
	"fmt"
)

// applyDelta applies a git delta to base and returns the result in dst,
// grown as needed. A delta that claims a result larger than maxObject is
// refused before anything is allocated for it.
func applyDelta(dst, base, delta []byte, maxObject int64) ([]byte, error) {
	srcSize, delta, err := deltaSize(delta)
	if err != nil {
		return nil, err
	}
	if srcSize != uint64(len(base)) {
		return nil, fmt.Errorf("delta base is %d bytes, the delta expects %d", len(base), srcSize)
	}
	size, delta, err := deltaSize(delta)
	if err != nil {
		return nil, err
	}
	if size > uint64(maxObject) {
		return nil, &LimitError{Limit: LimitBytes, Max: maxObject}
	}
	if uint64(cap(dst)) < size {
		dst = make([]byte, 0, size)
	}
	dst = dst[:0]
	for len(delta) > 0 {
		cmd := delta[0]
		delta = delta[1:]
		switch {
		case cmd&0x80 != 0:
			var off, n uint64
			for bit := range 4 {
				if cmd&(1<<bit) != 0 {
					if len(delta) == 0 {
						return nil, errTruncatedDelta
					}
					off |= uint64(delta[0]) << (8 * bit)
					delta = delta[1:]
				}
			}
			for bit := range 3 {
				if cmd&(0x10<<bit) != 0 {
					if len(delta) == 0 {
						return nil, errTruncatedDelta
					}
					n |= uint64(delta[0]) << (8 * bit)
					delta = delta[1:]
				}
			}
			if n == 0 {
				n = 0x10000
			}
			if off+n > uint64(len(base)) || uint64(len(dst))+n > size {
				return nil, errors.New("delta copies outside its base or past its size")
			}
			dst = append(dst, base[off:off+n]...)
		case cmd != 0:
			n := int(cmd)
			if n > len(delta) || uint64(len(dst)+n) > size {
				return nil, errTruncatedDelta
			}
			dst = append(dst, delta[:n]...)
			delta = delta[n:]
		default:
			return nil, errors.New("delta has a reserved command")
		}
	}
	if uint64(len(dst)) != size {
		return nil, fmt.Errorf("delta makes %d bytes, its header says %d", len(dst), size)
	}
	return dst, nil
}

var errTruncatedDelta = errors.New("delta is truncated")

// deltaSize decodes one size of a delta header.
func deltaSize(b []byte) (uint64, []byte, error) {
	var v uint64
	for shift := 0; shift < 64; shift += 7 {
		if len(b) == 0 {
			return 0, nil, errTruncatedDelta
		}
		c := b[0]
		b = b[1:]
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, b, nil
		}
	}
	return 0, nil, errors.New("delta size overflows")
}
