package pool

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Frame kinds.
const (
	kindRequest byte = 'q'
	kindOK      byte = 'o'
	kindError   byte = 'e'
	// kindPanic carries a handler's panic: the message, a NUL, the stack.
	kindPanic byte = 'p'
)

// writeFrame writes kind, a 4-byte big-endian length and the payload.
func writeFrame(w io.Writer, kind byte, payload []byte) error {
	var hdr [5]byte
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// readFrame reads one frame, refusing payloads over max bytes.
func readFrame(r io.Reader, max int64) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int64(binary.BigEndian.Uint32(hdr[1:]))
	if n > max {
		return 0, nil, fmt.Errorf("frame of %d bytes exceeds the limit of %d", n, max)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, err
	}
	return hdr[0], buf, nil
}
