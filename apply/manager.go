package apply

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/internal/panics"
)

// FieldManager is the server-side-apply field manager of Carina.
const FieldManager = "carina"

// Options configure a Manager.
type Options struct {
	// FieldManager is the server-side-apply manager name.
	FieldManager string
	// InventoryNamespace holds the inventory ConfigMaps; it is created
	// when missing.
	InventoryNamespace string
	// Concurrency bounds the requests in flight per call.
	Concurrency int
	// QPS and Burst set the client's rate limit. A negative QPS turns the
	// client-side limit off (Concurrency still bounds the load, and the
	// API server's priority and fairness protects it).
	QPS   float32
	Burst int
	// Retry is the backoff for 429 and 5xx answers.
	Retry RetryOptions
	// PollInterval is how often waits (CRDs established, Wait) look.
	PollInterval time.Duration
	// Inventory bounds the inventory's encoding.
	Inventory inventory.Options
}

// RetryOptions bound retries of one request.
type RetryOptions struct {
	// Attempts is the most tries of one request (1 = no retry).
	Attempts int
	// Initial is the first backoff; each next one doubles up to Max.
	Initial, Max time.Duration
	// MaxRetryAfter caps the wait a server's Retry-After asks for.
	MaxRetryAfter time.Duration
}

// DefaultOptions: manager "carina", inventory in carina-system, 32
// requests in flight, no client-side rate limit (see docs/apply.md for
// the measurement), 6 tries from 100 ms to 5 s (a Retry-After up to
// 30 s), polls every 500 ms.
func DefaultOptions() Options {
	return Options{
		FieldManager:       FieldManager,
		InventoryNamespace: "carina-system",
		Concurrency:        32,
		QPS:                -1,
		Retry:              RetryOptions{Attempts: 6, Initial: 100 * time.Millisecond, Max: 5 * time.Second, MaxRetryAfter: 30 * time.Second},
		PollInterval:       500 * time.Millisecond,
		Inventory:          inventory.DefaultOptions(),
	}
}

// Manager applies sets to one cluster. It is safe for concurrent use.
type Manager struct {
	cfg    *rest.Config
	dyn    dynamic.Interface
	wire   *wire
	mapper *restmapper.DeferredDiscoveryRESTMapper
	opts   Options
	// hook, when set (by tests), is called before each object's write
	// ("write") and health check ("health"), to inject faults.
	hook func(op string, id ID)
}

// New returns a Manager for the cluster of cfg. The REST mapper reads
// discovery lazily and is refreshed when a kind is unknown (for example
// right after a CRD was created).
func New(cfg *rest.Config, opts Options) (*Manager, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = opts.QPS, opts.Burst
	if cfg.UserAgent == "" {
		cfg.UserAgent = "carina"
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return newManager(cfg, mapper, opts)
}

func newManager(cfg *rest.Config, mapper *restmapper.DeferredDiscoveryRESTMapper, opts Options) (*Manager, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	w, err := newWire(cfg)
	if err != nil {
		return nil, fmt.Errorf("REST client: %w", err)
	}
	if opts.Concurrency < 1 {
		opts.Concurrency = 1
	}
	if opts.Retry.Attempts < 1 {
		opts.Retry.Attempts = 1
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultOptions().PollInterval
	}
	return &Manager{cfg: cfg, dyn: dyn, wire: w, mapper: mapper, opts: opts}, nil
}

// callHook calls the test hook, if any.
func (m *Manager) callHook(op string, id ID) {
	if m.hook != nil {
		m.hook(op, id)
	}
}

// Impersonate returns a Manager that acts as user (and groups) for every
// request, sharing this Manager's REST mapper. Use it per environment
// for multi-tenancy.
func (m *Manager) Impersonate(user string, groups ...string) (*Manager, error) {
	cfg := rest.CopyConfig(m.cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	return newManager(cfg, m.mapper, m.opts)
}

// ImpersonateServiceAccount is Impersonate for a service account.
func (m *Manager) ImpersonateServiceAccount(namespace, name string) (*Manager, error) {
	return m.Impersonate("system:serviceaccount:"+namespace+":"+name,
		"system:serviceaccounts", "system:serviceaccounts:"+namespace, "system:authenticated")
}

// ImpersonateTenant is ImpersonateServiceAccount for a tenant: the
// Manager also keeps its inventories in the service account's namespace,
// which the tenant may write, and no other may read. Agent and `carina
// apply` use it for an environment that names a serviceAccount.
func (m *Manager) ImpersonateTenant(namespace, serviceAccount string) (*Manager, error) {
	t, err := m.ImpersonateServiceAccount(namespace, serviceAccount)
	if err != nil {
		return nil, err
	}
	t.opts.InventoryNamespace = namespace
	return t, nil
}

// parallel runs fn for 0..n-1 with at most Concurrency at a time and
// waits for all. fn records its own results (by index). A panic in fn
// is raised again in the caller once all are done, where the exported
// method's panics.Recover turns it into its error.
func (m *Manager) parallel(ctx context.Context, n int, fn func(ctx context.Context, i int)) {
	var g errgroup.Group
	var first panics.First
	g.SetLimit(m.opts.Concurrency)
	for i := range n {
		g.Go(func() error {
			first.Go("apply", func() { fn(ctx, i) })
			return nil
		})
	}
	_ = g.Wait() // fn returns no error
	first.Repanic()
}
