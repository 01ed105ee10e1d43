package freeport

import (
	"net"
	"strconv"
	"testing"
)

// TestFreePortsAvoidTheEphemeralRange: the ports handed to etcd and the
// API server lie below the kernel's ephemeral range, where no outgoing
// connection's source port can take them between the pick and the bind
// (the "address already in use" flake of etcd).
func TestFreePortsAvoidTheEphemeralRange(t *testing.T) {
	low, _, err := ephemeralRange()
	if err != nil {
		t.Fatal(err)
	}
	ports, err := Ports(3)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p >= low || p < minPort {
			t.Errorf("port %d outside [%d, %d)", p, minPort, low)
		}
		if seen[p] {
			t.Errorf("port %d handed out twice", p)
		}
		seen[p] = true
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Errorf("port %d not bindable: %v", p, err)
			continue
		}
		l.Close()
	}
}

func TestParseEphemeralRange(t *testing.T) {
	for in, want := range map[string][2]int{
		"32768\t60999\n": {32768, 60999},
		"1024 65535":     {1024, 65535},
	} {
		lo, hi, err := parseRange(in)
		if err != nil || lo != want[0] || hi != want[1] {
			t.Errorf("parseRange(%q) = %d, %d, %v; want %v", in, lo, hi, err, want)
		}
	}
	if _, _, err := parseRange("nonsense"); err == nil {
		t.Error("parseRange(nonsense): no error")
	}
}
