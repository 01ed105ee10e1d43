package faultproxy

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Action is the fault a rule injects.
type Action int

const (
	// TooManyRequests answers 429 with the rule's Retry-After.
	TooManyRequests Action = iota
	// Unavailable answers 503 with a Status body.
	Unavailable
	// Reset drops the connection with a TCP reset before forwarding: the
	// API server never sees the request.
	Reset
	// ResetAfterForward forwards the request, discards the answer and
	// drops the connection: the write happened, the client does not know.
	ResetAfterForward
	// Hold keeps the request until the rule's Hold is released, then
	// forwards it.
	Hold
)

func (a Action) String() string {
	return [...]string{"429", "503", "reset", "reset-after-forward", "hold"}[a]
}

// Rule injects Action into the requests Match selects, Times times
// (0 = once); a rule that has fired Times times is spent.
type Rule struct {
	Match  func(*http.Request) bool
	Action Action
	// RetryAfter is the Retry-After header of a 429, in seconds.
	RetryAfter int
	Times      int
	// Held is signalled (closed) when a Hold rule holds its first request.
	Held chan struct{}
	// Release, when closed, lets held requests go on.
	Release chan struct{}
	// Abandoned is signalled (closed) when the client of a held request
	// goes away (its process killed, say) before Release: that request
	// was never forwarded nor answered.
	Abandoned chan struct{}
}

// Injection is one fault injected.
type Injection struct {
	Action Action
	Method string
	Path   string
	Time   time.Time
}

// Proxy is a running fault proxy.
type Proxy struct {
	srv      *httptest.Server
	rp       *httputil.ReverseProxy
	mu       sync.Mutex
	rules    []*rule
	injected []Injection

	// cut is the partition in force (0: none); healed is closed at Heal.
	cut    Partition
	healed chan struct{}
	report PartitionReport
	conns  map[net.Conn]struct{}
}

type rule struct {
	Rule
	fired     int
	once      sync.Once
	abandoned sync.Once
}

// Start serves a proxy to upstream's API server on a loopback port. The
// proxy authenticates upstream with upstream's credentials.
func Start(upstream *rest.Config) (*Proxy, error) {
	target, err := url.Parse(upstream.Host)
	if err != nil {
		return nil, fmt.Errorf("upstream host %q: %w", upstream.Host, err)
	}
	rt, err := rest.TransportFor(upstream)
	if err != nil {
		return nil, fmt.Errorf("upstream transport: %w", err)
	}
	p := &Proxy{conns: map[net.Conn]struct{}{}}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
			// The proxy authenticates with upstream's credentials; a
			// client's own (a kubeconfig token) never goes further.
			r.Out.Header.Del("Authorization")
		},
		Transport:     rt,
		FlushInterval: -1,
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.srv.Config.ConnState = p.track
	p.srv.StartTLS() // HTTP/1.1 only, so that a connection can be reset
	return p, nil
}

// Config is a client configuration for the proxy (no credentials: the
// proxy adds upstream's).
func (p *Proxy) Config() *rest.Config {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
	return &rest.Config{Host: p.srv.URL, TLSClientConfig: rest.TLSClientConfig{CAData: ca}, QPS: -1}
}

// URL is the proxy's address.
func (p *Proxy) URL() string { return p.srv.URL }

// WriteKubeconfig writes a kubeconfig for the proxy to path.
func (p *Proxy) WriteKubeconfig(path string) error {
	c := p.Config()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["proxy"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData}
	cfg.AuthInfos["proxy"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["proxy"] = &clientcmdapi.Context{Cluster: "proxy", AuthInfo: "proxy"}
	cfg.CurrentContext = "proxy"
	return clientcmd.WriteToFile(*cfg, path)
}

// Add installs a rule; rules are tried in the order added.
func (p *Proxy) Add(r Rule) {
	if r.Times <= 0 {
		r.Times = 1
	}
	p.mu.Lock()
	p.rules = append(p.rules, &rule{Rule: r})
	p.mu.Unlock()
}

// Injected returns the faults injected so far.
func (p *Proxy) Injected() []Injection {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Injection(nil), p.injected...)
}

// Close stops the proxy, releasing held requests first (and healing a
// partition).
func (p *Proxy) Close() {
	p.Heal()
	p.mu.Lock()
	for _, r := range p.rules {
		if r.Action == Hold && r.Release != nil {
			select {
			case <-r.Release:
			default:
				close(r.Release)
			}
		}
	}
	p.mu.Unlock()
	p.srv.CloseClientConnections()
	p.srv.Close()
}

// pick returns the rule that fires for r, counting it, or nil.
func (p *Proxy) pick(r *http.Request) *rule {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ru := range p.rules {
		if ru.fired >= ru.Times || (ru.Match != nil && !ru.Match(r)) {
			continue
		}
		ru.fired++
		p.injected = append(p.injected, Injection{Action: ru.Action, Method: r.Method, Path: r.URL.Path, Time: time.Now()})
		return ru
	}
	return nil
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	if p.partition(w, r) {
		return
	}
	ru := p.pick(r)
	if ru == nil {
		p.rp.ServeHTTP(p.gated(w, r), r)
		return
	}
	switch ru.Action {
	case TooManyRequests:
		w.Header().Set("Retry-After", fmt.Sprint(ru.RetryAfter))
		status(w, http.StatusTooManyRequests, "TooManyRequests", "injected by faultproxy")
	case Unavailable:
		status(w, http.StatusServiceUnavailable, "ServiceUnavailable", "injected by faultproxy")
	case Reset:
		reset(w)
	case ResetAfterForward:
		p.rp.ServeHTTP(httptest.NewRecorder(), r)
		reset(w)
	case Hold:
		// Read the body first: only a server that has read it watches
		// the connection, so that r's context ends when the client goes
		// away (otherwise a killed client's write would still be
		// forwarded at the release).
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if ru.Held != nil {
			ru.once.Do(func() { close(ru.Held) })
		}
		select {
		case <-ru.Release:
		case <-r.Context().Done():
			if ru.Abandoned != nil {
				ru.abandoned.Do(func() { close(ru.Abandoned) })
			}
			return
		}
		p.rp.ServeHTTP(p.gated(w, r), r)
	}
}

func status(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":%q,"reason":%q,"code":%d}`, msg, reason, code)
}

// reset drops the client's connection with a TCP RST.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	raw := conn
	if nc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		raw = nc.NetConn()
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = raw.Close()
}

// Write matches writes (POST, PUT, PATCH, DELETE) of a resource (its
// plural name, "configmaps"), dry-runs excluded.
func Write(resource string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return r.Method != http.MethodGet && !strings.Contains(r.URL.RawQuery, "dryRun") && hasResource(r.URL.Path, resource)
	}
}

// Method matches requests of a method on a resource, dry-runs included.
func Method(method, resource string) func(*http.Request) bool {
	return func(r *http.Request) bool { return r.Method == method && hasResource(r.URL.Path, resource) }
}

// Name matches writes of one object (by resource and name), dry-runs
// excluded.
func Name(resource, name string) func(*http.Request) bool {
	w := Write(resource)
	return func(r *http.Request) bool { return w(r) && strings.HasSuffix(r.URL.Path, "/"+resource+"/"+name) }
}

func hasResource(path, resource string) bool {
	for _, part := range strings.Split(path, "/") {
		if part == resource {
			return true
		}
	}
	return false
}
