// Package faultproxy is a loopback HTTPS proxy between a Kubernetes client
// and a real API server that injects faults on chosen requests: a 429 with
// Retry-After, a 503, a connection reset before the request is forwarded
// or after its answer came back, and a hold that keeps a request waiting
// until the test releases it (to kill a process while its write is in
// flight; the rule's Abandoned channel then says the client went away
// before the request was forwarded). Cut partitions every client from
// the API server until Heal: a blackhole (connections accepted, nothing
// forwarded or answered, answers in flight stalled; at Heal a held request
// whose client still waits is forwarded late) or a reset of every
// connection. Everything else is forwarded
// unchanged, watches included, with the upstream configuration's
// credentials, so the API server's audit log shows what really arrived.
//
// It is for tests only:
//
//	p, err := faultproxy.Start(upstreamConfig)
//	defer p.Close()
//	p.Add(faultproxy.Rule{Match: faultproxy.Write("configmaps"), Action: faultproxy.TooManyRequests, RetryAfter: 1, Times: 2})
//	m, err := apply.New(p.Config(), apply.DefaultOptions())
//	// ... p.Injected() lists what was injected.
package faultproxy
