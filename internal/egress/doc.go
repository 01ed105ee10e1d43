// Package egress decides which network addresses Carina may connect to
// when it follows what a repository or a configuration names: Git remotes
// (HTTP and SSH), OCI registries, Helm chart repositories, forge APIs and
// the URLs of notify steps. It owns that one concern: the classification
// of addresses, and the check of every outbound connection at dial time,
// on the address the connection is really made to. A check of the URL
// alone would miss a redirect, and a DNS answer that changes between a
// check and the connection (rebinding); a check in the dialer misses
// neither.
//
// Always refused, whatever the Rules say:
//
//   - the unspecified address (0.0.0.0/8, ::), which reaches the host
//     itself;
//   - link-local addresses (169.254.0.0/16, fe80::/10), where cloud
//     metadata services and their credentials live;
//   - the cloud metadata addresses outside link-local (fd00:ec2::254 and
//     fd00:ec2::23 on AWS, 100.100.100.200 on Alibaba Cloud, 192.0.0.192
//     on Oracle Cloud);
//   - multicast, broadcast and the reserved 240.0.0.0/4.
//
// IPv4 addresses written as IPv6 (::ffff:a.b.c.d, and the NAT64 prefix
// 64:ff9b::/96) are judged as the IPv4 address they carry.
//
// Loopback and private ranges are allowed unless the Rules deny them: Git
// servers inside a cluster live on private addresses, and tests serve on
// loopback. Rules.DenyPrivate, Rules.DenyLoopback and Rules.DenyCIDRs deny
// more; Rules.AllowCIDRs makes exceptions to those three, never to the
// refusals above.
//
//	p, err := egress.New(egress.Rules{DenyPrivate: true, AllowCIDRs: []string{"10.0.12.0/24"}})
//	tr := p.Transport(nil)                       // a clone of http.DefaultTransport that checks each connection
//	dial := p.DialContext(&net.Dialer{})         // for clients that take a dial function
//
// A nil *Policy is the default policy (New(Rules{})). A refused
// connection fails with a *DeniedError (errors.Is(err, ErrDenied)) that
// names the host, the address and why, and nothing else of the request:
// no URL path, query or credentials.
//
// The check applies to the connection the process makes. Through an HTTP
// proxy that is the proxy's address; a request whose host is an IP
// address is checked before it goes to the proxy, but a host name is
// resolved by the proxy, which must enforce its own policy.
package egress
