package egress

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// ErrDenied matches every refusal of a policy.
var ErrDenied = errors.New("denied by the egress policy")

// DeniedError is a connection the policy refused. It names the host, the
// address and the reason, nothing else of the request.
type DeniedError struct {
	// Host is the name that was dialled, when it is not the address.
	Host string
	// Addr is the address refused, "ip:port".
	Addr string
	// Reason is Policy.Reason of the address.
	Reason string
}

func (e *DeniedError) Error() string {
	target := e.Addr
	if e.Host != "" {
		if h, _, err := net.SplitHostPort(e.Addr); err != nil || h != e.Host {
			target = e.Host + " at " + e.Addr
		}
	}
	return "refusing to connect to " + target + " (" + e.Reason + "): " + ErrDenied.Error()
}

// Is makes errors.Is(err, ErrDenied) work.
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }

// CheckAddr returns a *DeniedError when p refuses address ("ip:port"),
// nil otherwise.
func (p *Policy) CheckAddr(address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &DeniedError{Addr: address, Reason: "not an IP address and port"}
	}
	if r := p.Reason(ap.Addr()); r != "" {
		return &DeniedError{Addr: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String(), Reason: r}
	}
	return nil
}

// Dialer returns a copy of d (nil: a dialer with 30 s timeouts) whose
// every connection attempt is checked on its resolved address before the
// socket connects: a refused address is never sent a packet. With a host
// name that resolves to several addresses, the refused ones are skipped
// and the others tried, as for any failed attempt.
func (p *Policy) Dialer(d *net.Dialer) *net.Dialer {
	out := net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if d != nil {
		out = *d
	}
	prevCtx, prev := out.ControlContext, out.Control
	out.Control = nil
	out.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		if err := p.CheckAddr(address); err != nil {
			return err
		}
		switch {
		case prevCtx != nil:
			return prevCtx(ctx, network, address, c)
		case prev != nil:
			return prev(network, address, c)
		}
		return nil
	}
	return &out
}

// DialContext returns a dial function over Dialer(d) whose refusals name
// the host that was dialled: for http.Transport.DialContext, and any
// client that takes a dial function.
func (p *Policy) DialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	dd := p.Dialer(d)
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dd.DialContext(ctx, network, addr)
		if err != nil {
			return nil, named(err, addr)
		}
		return conn, nil
	}
}

// Dial is DialContext for interfaces whose dial method takes no context
// (proxy.Dialer): the net.Dialer's own bounds apply.
func (p *Policy) Dial(d *net.Dialer) func(network, addr string) (net.Conn, error) {
	dd := p.Dialer(d)
	return func(network, addr string) (net.Conn, error) {
		conn, err := dd.Dial(network, addr)
		if err != nil {
			return nil, named(err, addr)
		}
		return conn, nil
	}
}

// named returns the refusal in err with the host of addr, or err.
func named(err error, addr string) error {
	var de *DeniedError
	if !errors.As(err, &de) {
		return err
	}
	out := *de
	if host, _, splitErr := net.SplitHostPort(addr); splitErr == nil {
		out.Host = host
	}
	return &out
}

// Transport returns a clone of base (nil: http.DefaultTransport) whose
// connections are made by DialContext; base's own dial functions are
// dropped, its TLS configuration, proxy and timeouts kept. Through a
// proxy the connection checked is the proxy's, so a request whose host
// is an IP address is checked too before it goes to the proxy.
func (p *Policy) Transport(base *http.Transport) *http.Transport {
	if base == nil {
		base = http.DefaultTransport.(*http.Transport)
	}
	tr := base.Clone()
	tr.Dial, tr.DialTLS, tr.DialTLSContext = nil, nil, nil
	tr.DialContext = p.DialContext(&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second})
	if proxy := tr.Proxy; proxy != nil {
		tr.Proxy = func(req *http.Request) (*url.URL, error) {
			u, err := proxy(req)
			if err != nil || u == nil {
				return u, err
			}
			if ip, perr := netip.ParseAddr(req.URL.Hostname()); perr == nil {
				if r := p.Reason(ip); r != "" {
					port := req.URL.Port()
					if port == "" {
						port = map[string]string{"http": "80", "https": "443"}[req.URL.Scheme]
					}
					return nil, &DeniedError{Addr: net.JoinHostPort(ip.String(), port), Reason: r}
				}
			}
			return u, nil
		}
	}
	return tr
}
