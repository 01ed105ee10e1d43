package source

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/net/proxy"

	"github.com/carina-gitops/carina/internal/egress"
)

// egressScheme is the golang.org/x/net/proxy scheme through which
// go-git's SSH transport dials: an endpoint's proxy is that transport's
// only seam for the dialer, so an SSH endpoint names this "proxy" and the
// dialer it stands for checks every connection against the policy that
// its URL carries.
const egressScheme = "carina-egress"

var registerEgress sync.Once

// sshProxy returns the proxy options that make go-git's SSH transport
// dial through policy p.
func sshProxy(p *egress.Policy) transport.ProxyOptions {
	registerEgress.Do(func() { proxy.RegisterDialerType(egressScheme, egressDialerFor) })
	data, _ := json.Marshal(p) // rules of strings and booleans: never fails
	q := url.Values{"rules": {base64.RawURLEncoding.EncodeToString(data)}}
	return transport.ProxyOptions{URL: egressScheme + "://policy/?" + q.Encode()}
}

// egressDialerFor reads the policy from the URL sshProxy wrote and
// returns its dialer; a proxy named by ALL_PROXY is still used, and then
// it is the proxy's address that is checked.
func egressDialerFor(u *url.URL, _ proxy.Dialer) (proxy.Dialer, error) {
	data, err := base64.RawURLEncoding.DecodeString(u.Query().Get("rules"))
	if err != nil {
		return nil, fmt.Errorf("egress policy of the ssh dialer does not decode: %w", err)
	}
	p := new(egress.Policy)
	if err := json.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("egress policy of the ssh dialer: %w", err)
	}
	return proxy.FromEnvironmentUsing(egressDialer{dial: p.DialContext(nil), plain: p.Dial(nil)}), nil
}

// egressDialer is a proxy.ContextDialer over a policy's dial function.
type egressDialer struct {
	dial  func(ctx context.Context, network, addr string) (net.Conn, error)
	plain func(network, addr string) (net.Conn, error)
}

func (d egressDialer) Dial(network, addr string) (net.Conn, error) {
	return d.plain(network, addr)
}

func (d egressDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return d.dial(ctx, network, addr)
}

// checkResolved checks every address host resolves to against p, for the
// git:// transport, which dials with net.Dial and has no seam for a
// dialer: it is checked once, before go-git dials the name again.
func checkResolved(ctx context.Context, p *egress.Policy, host, port string) error {
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else if addrs, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
		return fmt.Errorf("resolving %s: %w", host, err)
	}
	for _, a := range addrs {
		var de *egress.DeniedError
		if errors.As(p.CheckAddr(netip.AddrPortFrom(a, portNumber(port, 9418)).String()), &de) {
			out := *de
			out.Host = host
			return &out
		}
	}
	return nil
}

func portNumber(port string, def uint16) uint16 {
	if n, err := strconv.ParseUint(port, 10, 16); err == nil {
		return uint16(n)
	}
	return def
}
