package pool

import (
	"strings"
	"sync"
)

// headBuffer keeps the first max bytes written since the last Reset: a Go
// crash prints its reason ("fatal error: runtime: out of memory") first and
// its goroutine dump after.
type headBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newHeadBuffer(max int) *headBuffer { return &headBuffer{max: max} }

func (h *headBuffer) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if room := h.max - len(h.buf); room > 0 {
		h.buf = append(h.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (h *headBuffer) Reset() {
	h.mu.Lock()
	h.buf = h.buf[:0]
	h.mu.Unlock()
}

// Summary is the first lines of what was written, up to the first blank
// line (where a Go crash's goroutine dump starts).
func (h *headBuffer) Summary() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := string(h.buf)
	if i := strings.Index(s, "\n\n"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}
