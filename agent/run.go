package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/apply"
)

// Clusters are the clients of the configured clusters.
type Clusters struct {
	REST    map[string]*rest.Config
	Clients map[string]kubernetes.Interface
	Targets map[string]Target
	// ReadSecret reads one key of a Secret in a configured cluster (the
	// in-cluster config for ""): the agent's source keys and chart
	// credentials (Options.ReadSecret).
	ReadSecret config.SecretReader
}

// BuildClusters resolves every cluster of cfg (Secrets are read through
// the in-cluster config or the named cluster) and builds an apply
// Manager for each. It does not contact the clusters.
func BuildClusters(ctx context.Context, cfg *config.Config) (*Clusters, error) {
	cl := &Clusters{REST: map[string]*rest.Config{}, Clients: map[string]kubernetes.Interface{}, Targets: map[string]Target{}}
	read := func(ctx context.Context, cluster, ns, name, key string) ([]byte, error) {
		var rc *rest.Config
		var err error
		if cluster == "" {
			rc, err = rest.InClusterConfig()
		} else if rc = cl.REST[cluster]; rc == nil {
			err = fmt.Errorf("cluster %s must come before the clusters whose Secrets it holds", cluster)
		}
		if err != nil {
			return nil, err
		}
		c, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return nil, err
		}
		s, err := c.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("secret %s/%s: %w", ns, name, err)
		}
		v, ok := s.Data[key]
		if !ok {
			return nil, fmt.Errorf("secret %s/%s has no key %q", ns, name, key)
		}
		return v, nil
	}
	cl.ReadSecret = read
	for _, c := range cfg.Clusters {
		rc, err := c.RESTConfig(ctx, read)
		if err != nil {
			return nil, err
		}
		cl.REST[c.Name] = rc
		kc := rest.CopyConfig(rc)
		if kc.QPS == 0 {
			// Events, Leases and probes; the default 5/s would queue Events.
			kc.QPS, kc.Burst = 50, 100
		}
		if cl.Clients[c.Name], err = kubernetes.NewForConfig(kc); err != nil {
			return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
		}
		m, err := apply.New(rc, apply.DefaultOptions())
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
		}
		cl.Targets[c.Name] = m
	}
	return cl, nil
}

// RunOptions configure Run.
type RunOptions struct {
	// Clients are the cluster clients (leader election, readiness, and
	// each cluster's version for context.clusterVersion).
	Clients map[string]kubernetes.Interface
	// REST are the clusters' configs; the drift watchers use them. Nil
	// runs without drift detection.
	REST map[string]*rest.Config
	// Listener serves the API; nil listens on Config.Server.Listen.
	Listener net.Listener
	// DebugAddr serves pprof on loopback when set.
	DebugAddr string
	// Registry is served at /metrics; nil builds one with the recorder
	// and the Go runtime and process collectors.
	Registry *prometheus.Registry
	// Started, when set, is called once the API listens.
	Started func(addr string)
}

// Run runs the agent until ctx ends: the HTTP server, the source pollers
// and, while this replica leads, the workers. On ctx's end it stops the
// workers (in-flight applies are cancelled; the inventory written before
// each apply's first write lets the next leader converge), releases the
// Lease and returns within the shutdown timeout. It also returns, with an
// error, when this replica loses its lease: the process should exit and
// start over as a follower.
func (a *Agent) Run(ctx context.Context, opts RunOptions) error {
	ctx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	handler, err := a.handler(opts)
	if err != nil {
		return err
	}
	if err := a.drift.build(opts.REST, a.targets.clusters); err != nil {
		return err
	}
	if len(opts.Clients) > 0 {
		a.versions.use(discoveryVersions(opts.Clients))
	}
	ln := opts.Listener
	if ln == nil {
		if ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", a.cfg.Server.Listen); err != nil {
			return fmt.Errorf("listen %s: %w", a.cfg.Server.Listen, err)
		}
	}
	srv := &http.Server{Handler: handler}
	api.ConfigureServer(srv)
	var wg sync.WaitGroup
	if a.hookQueue != nil {
		wg.Go(func() { _ = a.hookQueue.Run(ctx) })
	}
	if a.reconciler.statuses.enabled() {
		wg.Go(func() { a.reconciler.statuses.run(ctx) })
	}
	wg.Go(func() { _ = srv.Serve(ln) })
	if opts.Started != nil {
		opts.Started(ln.Addr().String())
	}
	a.log.Info("agent listening", "addr", ln.Addr().String())
	if opts.DebugAddr != "" {
		dln, err := api.ListenDebug(ctx, opts.DebugAddr)
		if err != nil {
			srv.Close()
			return err
		}
		dsrv := &http.Server{Handler: api.DebugHandler(), ReadHeaderTimeout: 5 * time.Second}
		wg.Go(func() { _ = dsrv.Serve(dln) })
		context.AfterFunc(ctx, func() { dsrv.Close() })
	}
	a.previews.clients = opts.Clients
	a.probeClusters(ctx, opts.Clients)
	if err := a.feed.start(ctx, &wg); err != nil {
		srv.Close()
		return err
	}
	runErr := a.lead(ctx, opts.Clients)
	cancelRun() // a lost lease ends the pollers, the webhook queue and the statuses too
	shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(shut)
	wg.Wait()
	a.log.Info("agent stopped")
	return runErr
}

// lead runs the workers while this replica holds the Lease (or always,
// without leader election). Losing the Lease is an error: the process
// should exit and start over as a follower.
//
// The workers, and the Events they post, run on a context that ends as
// soon as the lease has gone unrenewed for the renew deadline, counted
// from the start of the last renewal that succeeded: every write in
// flight is cancelled then, before the lease can have run out for
// anyone (the lease duration is longer than the renew deadline), and
// without waiting for the election code, which gives up later and then
// tries, for up to the renew deadline again, to release the lease.
func (a *Agent) lead(ctx context.Context, clients map[string]kubernetes.Interface) error {
	var fence *leaseFence
	electCtx, stopElection := context.WithCancel(ctx)
	defer stopElection()
	le := a.cfg.LeaderElection
	// lead returns once the work has stopped: the election code starts it
	// on a goroutine of its own and does not wait for it.
	var (
		mu      sync.Mutex
		done    bool
		running sync.WaitGroup
	)
	defer func() {
		mu.Lock()
		done = true
		mu.Unlock()
		running.Wait()
	}()
	work := func(ctx context.Context) {
		mu.Lock()
		if done {
			mu.Unlock()
			return
		}
		running.Add(1)
		mu.Unlock()
		defer running.Done()
		ctx, stop := context.WithCancel(ctx)
		defer stop()
		if fence != nil {
			go fence.hold(ctx, le.RenewDeadline, a.log, func() {
				stop()
				stopElection()
			})
		}
		a.leading.Store(true)
		context.AfterFunc(ctx, func() { a.leading.Store(false) })
		a.log.Info("leading: reconciling")
		var wg sync.WaitGroup
		if a.events.sink != nil {
			wg.Go(func() { a.events.run(ctx) })
		}
		wg.Go(func() { a.work.resync(ctx, a.catalog.items) })
		wg.Go(func() { a.drift.run(ctx) })
		wg.Go(func() { a.restorer.run(ctx) })
		wg.Go(func() { a.previews.run(ctx) })
		a.work.add(a.catalog.items())
		a.work.run(ctx)
		wg.Wait()
		a.leading.Store(false)
	}
	if !le.On() {
		work(ctx)
		return nil
	}
	client := clients[le.Cluster]
	if client == nil {
		return fmt.Errorf("leader election: no client for cluster %s", le.Cluster)
	}
	id := le.Identity
	if id == "" {
		host, _ := os.Hostname()
		id = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	fence = &leaseFence{Interface: &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: le.Namespace, Name: le.Name},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}}
	lost := make(chan struct{})
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:          fence,
		LeaseDuration: le.LeaseDuration, RenewDeadline: le.RenewDeadline, RetryPeriod: le.RetryPeriod,
		ReleaseOnCancel: true, Name: "carina-agent",
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: work,
			OnStoppedLeading: func() {
				if ctx.Err() == nil {
					close(lost)
				}
			},
			OnNewLeader: func(identity string) {
				if identity != id {
					a.log.Info("following", "leader", identity)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	elector.Run(electCtx)
	select {
	case <-lost:
		return errors.New("leader election: lost the lease")
	default:
		return nil
	}
}
