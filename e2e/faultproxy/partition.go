package faultproxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
)

// Partition is how Cut separates the proxy's clients from the API server.
type Partition int

const (
	// Blackhole is a network that drops everything: connections are
	// still accepted, but no request is forwarded or answered, and what
	// was in flight stalls (the answers to requests already forwarded,
	// watches included). At Heal, a request the blackhole holds whose
	// client is still connected is forwarded (the network delivered it
	// late); one whose client went away is never forwarded.
	Blackhole Partition = iota + 1
	// ResetAll drops every client connection with a TCP reset at the
	// cut, and resets every request until Heal.
	ResetAll
)

func (m Partition) String() string {
	switch m {
	case Blackhole:
		return "blackhole"
	case ResetAll:
		return "reset"
	}
	return "none"
}

// PartitionReport is what the partitions did so far.
type PartitionReport struct {
	// Held are the requests a blackhole held.
	Held []Injection
	// Abandoned are held requests whose client went away before Heal:
	// never forwarded.
	Abandoned []Injection
	// Released are held requests forwarded at Heal, their client still
	// waiting.
	Released []Injection
	// Reset are the requests reset during a ResetAll partition.
	Reset []Injection
	// ConnsReset counts the connections reset at a ResetAll cut.
	ConnsReset int
}

// Cut starts a partition of every client of the proxy from the API
// server, until Heal.
func (p *Proxy) Cut(mode Partition) {
	p.mu.Lock()
	if p.cut == 0 {
		p.healed = make(chan struct{})
	}
	p.cut = mode
	var conns []net.Conn
	if mode == ResetAll {
		for c := range p.conns {
			conns = append(conns, c)
		}
		p.report.ConnsReset += len(conns)
	}
	p.mu.Unlock()
	for _, c := range conns {
		resetConn(c)
	}
}

// Heal ends the partition: held requests whose clients still wait are
// forwarded, stalled answers flow again, new requests are served.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut == 0 {
		return
	}
	p.cut = 0
	close(p.healed)
}

// Partitions reports what the partitions did so far.
func (p *Proxy) Partitions() PartitionReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.report
	r.Held = append([]Injection(nil), r.Held...)
	r.Abandoned = append([]Injection(nil), r.Abandoned...)
	r.Released = append([]Injection(nil), r.Released...)
	r.Reset = append([]Injection(nil), r.Reset...)
	return r
}

// partition handles r under the current partition and reports whether
// it did (nothing more is to be done with r).
func (p *Proxy) partition(w http.ResponseWriter, r *http.Request) bool {
	p.mu.Lock()
	mode, healed := p.cut, p.healed
	in := Injection{Method: r.Method, Path: r.URL.Path, Time: time.Now()}
	if mode == ResetAll {
		p.report.Reset = append(p.report.Reset, in)
	}
	p.mu.Unlock()
	switch mode {
	case ResetAll:
		reset(w)
		return true
	case Blackhole:
	default:
		return false
	}
	// Read the body, so that the server watches the connection and r's
	// context ends if the client goes away (see Hold).
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return true
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	p.note(func(rep *PartitionReport) { rep.Held = append(rep.Held, in) })
	select {
	case <-healed:
	case <-r.Context().Done():
		p.note(func(rep *PartitionReport) { rep.Abandoned = append(rep.Abandoned, in) })
		return true
	}
	if r.Context().Err() != nil { // both ready: the client is gone
		p.note(func(rep *PartitionReport) { rep.Abandoned = append(rep.Abandoned, in) })
		return true
	}
	p.note(func(rep *PartitionReport) {
		in.Time = time.Now()
		rep.Released = append(rep.Released, in)
	})
	p.rp.ServeHTTP(p.gated(w, r), r)
	return true
}

func (p *Proxy) note(f func(*PartitionReport)) {
	p.mu.Lock()
	f(&p.report)
	p.mu.Unlock()
}

// stall waits while a blackhole partition lasts; false when r's client
// went away meanwhile.
func (p *Proxy) stall(r *http.Request) bool {
	p.mu.Lock()
	mode, healed := p.cut, p.healed
	p.mu.Unlock()
	if mode != Blackhole {
		return true
	}
	select {
	case <-healed:
		return true
	case <-r.Context().Done():
		return false
	}
}

// errStalled ends the copy of an answer whose client went away during a
// blackhole partition.
var errStalled = errors.New("faultproxy: the client went away during a partition")

// gatedWriter stalls the answer of a request while a blackhole
// partition lasts.
type gatedWriter struct {
	w http.ResponseWriter
	r *http.Request
	p *Proxy
}

func (p *Proxy) gated(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
	return &gatedWriter{w: w, r: r, p: p}
}

func (g *gatedWriter) Header() http.Header { return g.w.Header() }

func (g *gatedWriter) WriteHeader(code int) {
	if g.p.stall(g.r) {
		g.w.WriteHeader(code)
	}
}

func (g *gatedWriter) Write(b []byte) (int, error) {
	if !g.p.stall(g.r) {
		return 0, errStalled
	}
	return g.w.Write(b)
}

func (g *gatedWriter) Flush() {
	if g.p.stall(g.r) {
		_ = http.NewResponseController(g.w).Flush()
	}
}

func (g *gatedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(g.w).Hijack()
}

// track keeps the open client connections, to reset them at a cut.
func (p *Proxy) track(c net.Conn, s http.ConnState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch s {
	case http.StateNew:
		p.conns[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(p.conns, c)
	}
}

// resetConn closes c with a TCP reset.
func resetConn(c net.Conn) {
	raw := c
	if nc, ok := c.(interface{ NetConn() net.Conn }); ok {
		raw = nc.NetConn()
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = raw.Close()
}
