package egress

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReasonClassifiesAddresses(t *testing.T) {
	strict, err := New(Rules{DenyPrivate: true, DenyLoopback: true, DenyCIDRs: []string{"203.0.113.0/24", "2001:db8::1"},
		AllowCIDRs: []string{"10.0.12.0/24", "169.254.0.0/16", "127.0.0.2"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr            string
		byDefault, deny string // the reasons of the default and the strict policy, "" when allowed
	}{
		{"169.254.169.254", "link-local, cloud metadata", "link-local, cloud metadata"},
		{"169.254.170.2", "link-local, cloud metadata", "link-local, cloud metadata"},
		{"169.254.1.1", "link-local", "link-local"}, // allowCIDRs cannot open link-local
		{"fe80::1", "link-local", "link-local"},
		{"fe80::1%eth0", "link-local", "link-local"},
		{"fd00:ec2::254", "cloud metadata", "cloud metadata"},
		{"100.100.100.200", "cloud metadata", "cloud metadata"},
		{"192.0.0.192", "cloud metadata", "cloud metadata"},
		{"0.0.0.0", "unspecified", "unspecified"},
		{"0.1.2.3", "unspecified", "unspecified"},
		{"::", "unspecified", "unspecified"},
		{"::ffff:169.254.169.254", "link-local, cloud metadata", "link-local, cloud metadata"},
		{"::ffff:0.0.0.0", "unspecified", "unspecified"},
		{"64:ff9b::a9fe:a9fe", "NAT64 of 169.254.169.254: link-local, cloud metadata", "NAT64 of 169.254.169.254: link-local, cloud metadata"},
		{"64:ff9b::a00:1", "", "NAT64 of 10.0.0.1: private, denyPrivate"},
		{"224.0.0.1", "multicast", "multicast"},
		{"ff02::1", "multicast", "multicast"},
		{"255.255.255.255", "broadcast", "broadcast"},
		{"240.0.0.1", "reserved", "reserved"},
		{"127.0.0.1", "", "loopback, denyLoopback"},
		{"127.0.0.2", "", ""}, // allowCIDRs
		{"::1", "", "loopback, denyLoopback"},
		{"::ffff:127.0.0.1", "", "loopback, denyLoopback"},
		{"10.1.2.3", "", "private, denyPrivate"},
		{"10.0.12.7", "", ""}, // allowCIDRs
		{"172.16.0.1", "", "private, denyPrivate"},
		{"172.32.0.1", "", ""},
		{"192.168.1.1", "", "private, denyPrivate"},
		{"100.64.0.1", "", "private, denyPrivate"},
		{"fd12::1", "", "private, denyPrivate"},
		{"203.0.113.9", "", "denyCIDRs 203.0.113.0/24"},
		{"2001:db8::1", "", "denyCIDRs 2001:db8::1/128"},
		{"2001:db8::2", "", ""},
		{"8.8.8.8", "", ""},
		{"2606:4700::1111", "", ""},
	}
	for _, tt := range tests {
		ip := netip.MustParseAddr(tt.addr)
		var nilPolicy *Policy
		if got := nilPolicy.Reason(ip); got != tt.byDefault {
			t.Errorf("default policy, %s: reason %q, want %q", tt.addr, got, tt.byDefault)
		}
		if got := Default().Reason(ip); got != tt.byDefault {
			t.Errorf("Default(), %s: reason %q, want %q", tt.addr, got, tt.byDefault)
		}
		if got := strict.Reason(ip); got != tt.deny {
			t.Errorf("strict policy, %s: reason %q, want %q", tt.addr, got, tt.deny)
		}
	}
}

func TestNewRefusesBadCIDRs(t *testing.T) {
	_, err := New(Rules{DenyCIDRs: []string{"10.0.0.0/8", "10.0.0.0/33", "nope"}, AllowCIDRs: []string{"fe80::1%eth0"}})
	if err == nil {
		t.Fatal("bad CIDRs accepted")
	}
	for _, want := range []string{`denyCIDRs[1] "10.0.0.0/33"`, `denyCIDRs[2] "nope"`, `allowCIDRs[0] "fe80::1%eth0"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestCheckAddrError(t *testing.T) {
	p, err := New(Rules{DenyCIDRs: []string{"127.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"169.254.169.254:80": "refusing to connect to 169.254.169.254:80 (link-local, cloud metadata): denied by the egress policy",
		"[fd00:ec2::254]:80": "refusing to connect to [fd00:ec2::254]:80 (cloud metadata): denied by the egress policy",
		"127.0.0.1:8080":     "refusing to connect to 127.0.0.1:8080 (denyCIDRs 127.0.0.0/8): denied by the egress policy",
		"localhost:80":       "refusing to connect to localhost:80 (not an IP address and port): denied by the egress policy",
	}
	for addr, want := range tests {
		err := p.CheckAddr(addr)
		if err == nil || err.Error() != want {
			t.Errorf("CheckAddr(%s) = %v, want %s", addr, err, want)
		}
	}
	if err := p.CheckAddr("192.0.2.1:443"); err != nil {
		t.Errorf("CheckAddr of an allowed address: %v", err)
	}
}

func TestPolicyTravelsAsJSON(t *testing.T) {
	r := Rules{DenyPrivate: true, DenyCIDRs: []string{"203.0.113.0/24"}, AllowCIDRs: []string{"10.0.12.0/24"}}
	p, err := New(r)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(struct {
		P *Policy `json:"p"`
	}{p})
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		P *Policy `json:"p"`
	}
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, back.P.Rules()); diff != "" {
		t.Errorf("rules after a JSON round trip (-want +got):\n%s", diff)
	}
	if got := back.P.Reason(netip.MustParseAddr("203.0.113.5")); got != "denyCIDRs 203.0.113.0/24" {
		t.Errorf("the decoded policy does not deny: %q", got)
	}
	if err := json.Unmarshal([]byte(`{"denyCIDRs": ["bad"]}`), new(Policy)); err == nil {
		t.Error("a bad CIDR in JSON was accepted")
	}
}
