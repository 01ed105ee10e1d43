package egress

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Rules are what a configuration adds to the refusals that always apply.
type Rules struct {
	// DenyPrivate refuses the private ranges: 10.0.0.0/8, 172.16.0.0/12,
	// 192.168.0.0/16, the shared address space 100.64.0.0/10 and the
	// unique local addresses fc00::/7.
	DenyPrivate bool `json:"denyPrivate,omitempty"`
	// DenyLoopback refuses 127.0.0.0/8 and ::1.
	DenyLoopback bool `json:"denyLoopback,omitempty"`
	// DenyCIDRs refuses these ranges ("203.0.113.0/24", "2001:db8::/32",
	// or one address).
	DenyCIDRs []string `json:"denyCIDRs,omitempty"`
	// AllowCIDRs are exceptions to DenyPrivate, DenyLoopback and
	// DenyCIDRs (an in-cluster Git server while private ranges are
	// denied), never to the refusals that always apply.
	AllowCIDRs []string `json:"allowCIDRs,omitempty"`
}

// Policy decides which addresses may be connected to. It is immutable and
// safe for concurrent use; a nil *Policy is the default policy.
type Policy struct {
	rules        Rules
	deny, allow  []netip.Prefix
	denyPrivate  bool
	denyLoopback bool
}

// defaultPolicy is New(Rules{}).
var defaultPolicy = &Policy{}

// Default returns the default policy: the refusals that always apply,
// and nothing else.
func Default() *Policy { return defaultPolicy }

// New checks r and returns its policy. An error names every CIDR that
// does not parse.
func New(r Rules) (*Policy, error) {
	p := &Policy{rules: r, denyPrivate: r.DenyPrivate, denyLoopback: r.DenyLoopback}
	var errs []error
	var err error
	if p.deny, err = parseCIDRs("denyCIDRs", r.DenyCIDRs); err != nil {
		errs = append(errs, err)
	}
	if p.allow, err = parseCIDRs("allowCIDRs", r.AllowCIDRs); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// parseCIDRs parses ranges; a bare address is a range of one.
func parseCIDRs(field string, list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for i, s := range list {
		s = strings.TrimSpace(s)
		if pf, err := netip.ParsePrefix(s); err == nil {
			out = append(out, pf.Masked())
			continue
		}
		if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		errs = append(errs, fmt.Errorf("%s[%d] %q is not a CIDR range (like 10.0.0.0/8) or an IP address", field, i, clip(s)))
	}
	return out, errors.Join(errs...)
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// Rules returns the rules p was made from.
func (p *Policy) Rules() Rules {
	if p == nil {
		return Rules{}
	}
	return p.rules
}

// MarshalJSON writes the rules, so that a policy travels to a worker
// process inside its options.
func (p *Policy) MarshalJSON() ([]byte, error) { return json.Marshal(p.Rules()) }

// UnmarshalJSON reads rules written by MarshalJSON.
func (p *Policy) UnmarshalJSON(data []byte) error {
	var r Rules
	if err := json.Unmarshal(data, &r); err != nil {
		return err
	}
	np, err := New(r)
	if err != nil {
		return err
	}
	*p = *np
	return nil
}

var (
	// always are refused whatever the rules, with their reason.
	always = []classified{
		{pf("0.0.0.0/8"), "unspecified"},
		{pf("::/128"), "unspecified"},
		{pf("169.254.169.254/32"), "link-local, cloud metadata"},
		{pf("169.254.170.2/32"), "link-local, cloud metadata"},
		{pf("169.254.170.23/32"), "link-local, cloud metadata"},
		{pf("169.254.0.0/16"), "link-local"},
		{pf("fe80::/10"), "link-local"},
		{pf("fd00:ec2::254/128"), "cloud metadata"},
		{pf("fd00:ec2::23/128"), "cloud metadata"},
		{pf("100.100.100.200/32"), "cloud metadata"},
		{pf("192.0.0.192/32"), "cloud metadata"},
		{pf("255.255.255.255/32"), "broadcast"},
		{pf("224.0.0.0/4"), "multicast"},
		{pf("ff00::/8"), "multicast"},
		{pf("240.0.0.0/4"), "reserved"},
	}
	loopback = []netip.Prefix{pf("127.0.0.0/8"), pf("::1/128")}
	private  = []netip.Prefix{pf("10.0.0.0/8"), pf("172.16.0.0/12"), pf("192.168.0.0/16"), pf("100.64.0.0/10"), pf("fc00::/7")}
	nat64    = pf("64:ff9b::/96")
)

type classified struct {
	prefix netip.Prefix
	reason string
}

func pf(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// Reason says why p refuses ip, or "" when p allows it: "link-local,
// cloud metadata", "unspecified", "private, denyPrivate", "denyCIDRs
// 127.0.0.0/8", ...
func (p *Policy) Reason(ip netip.Addr) string {
	if p == nil {
		p = defaultPolicy
	}
	ip = ip.WithZone("").Unmap()
	if !ip.IsValid() {
		return "not an IP address"
	}
	if nat64.Contains(ip) {
		b := ip.As16()
		v4 := netip.AddrFrom4([4]byte(b[12:]))
		if r := p.Reason(v4); r != "" {
			return "NAT64 of " + v4.String() + ": " + r
		}
	}
	for _, c := range always {
		if c.prefix.Contains(ip) {
			return c.reason
		}
	}
	for _, a := range p.allow {
		if a.Contains(ip) {
			return ""
		}
	}
	switch {
	case p.denyLoopback && containsAny(loopback, ip):
		return "loopback, denyLoopback"
	case p.denyPrivate && containsAny(private, ip):
		return "private, denyPrivate"
	}
	for _, d := range p.deny {
		if d.Contains(ip) {
			return "denyCIDRs " + d.String()
		}
	}
	return ""
}

func containsAny(list []netip.Prefix, ip netip.Addr) bool {
	for _, p := range list {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
