package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/carina-gitops/carina/e2e/freeport"
)

// Options configures a cluster.
type Options struct {
	// Name labels the cluster in errors and in its directory name.
	Name string
	// Nodes is the number of kwok fake nodes (at least 1).
	Nodes int
	// ReadyTimeout bounds how long Start waits for the cluster to be usable.
	ReadyTimeout time.Duration
	// Build configures where binaries are cached and built.
	Build BuildOptions
	// TempDir is the parent of the cluster's directory. Default: os.TempDir().
	TempDir string
}

// DefaultOptions returns one node, a 60 s readiness timeout and the default
// binary cache.
func DefaultOptions() Options {
	return Options{Name: "carina", Nodes: 1, ReadyTimeout: 60 * time.Second}
}

// Cluster is a running local control plane.
type Cluster struct {
	name       string
	dir        string
	server     string
	kubeconfig string
	rest       *rest.Config
	pki        *pki
	group      *group
	auditLog   string
	startup    time.Duration
	bins       *Binaries
	phases     []Phase

	stopOnce sync.Once
	stopErr  error
}

// Start builds (or reuses) the binaries and starts a cluster. It returns
// once the API server is ready, the default ServiceAccount exists and every
// fake node is Ready without the not-ready taint. On error nothing is left
// running.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Nodes < 1 {
		opts.Nodes = 1
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = DefaultOptions().ReadyTimeout
	}
	if opts.Name == "" {
		opts.Name = "carina"
	}
	bins, err := EnsureBinaries(ctx, opts.Build)
	if err != nil {
		return nil, err
	}
	began := time.Now()
	sweepStale(opts.TempDir)
	dir, err := os.MkdirTemp(opts.TempDir, "carina-cluster-"+opts.Name+"-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{name: opts.Name, dir: dir, bins: bins}
	if err := c.prepareDir(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if c.group, err = newGroup(dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.ReadyTimeout)
	defer cancel()
	if err := c.boot(ctx, bins, opts); err != nil {
		c.Stop()
		return nil, fmt.Errorf("cluster %s: %w", opts.Name, err)
	}
	c.startup = time.Since(began)
	return c, nil
}

func (c *Cluster) prepareDir() error {
	for _, d := range []string{"pki", "logs", "etcd"} {
		if err := os.MkdirAll(filepath.Join(c.dir, d), 0o700); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(c.dir, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o644)
}

// Phase is one step of Start and when it finished, for diagnosing slow
// starts.
type Phase struct {
	Name string
	At   time.Duration
}

// Phases lists the steps of Start with their completion times.
func (c *Cluster) Phases() []Phase { return c.phases }

func (c *Cluster) mark(began time.Time, name string) {
	c.phases = append(c.phases, Phase{Name: name, At: time.Since(began)})
}

// boot starts the components and waits for readiness. The controllers start
// right after the API server process, in parallel with its start-up: they
// retry until it answers.
func (c *Cluster) boot(ctx context.Context, bins *Binaries, opts Options) error {
	began := time.Now()
	ports, err := freeport.Ports(3)
	if err != nil {
		return err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	if err := c.startEtcd(bins, etcdURL, ports[1]); err != nil {
		return err
	}
	c.server = fmt.Sprintf("https://127.0.0.1:%d", ports[2])
	certs, err := c.writeCredentials()
	if err != nil {
		return err
	}
	c.mark(began, "credentials")
	if err := c.startAPIServer(bins, etcdURL, ports[2]); err != nil {
		return err
	}
	if err := c.startControllers(bins, certs); err != nil {
		return err
	}
	if err := c.waitAPIServer(ctx); err != nil {
		return err
	}
	c.mark(began, "apiserver-ready")
	return c.waitReady(ctx, opts.Nodes, began)
}

func (c *Cluster) startEtcd(bins *Binaries, clientURL string, peerPort int) error {
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	_, err := c.group.start("etcd", bins.Etcd,
		"--name=default",
		"--data-dir="+filepath.Join(c.dir, "etcd"),
		"--listen-client-urls="+clientURL,
		"--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	)
	return err
}

// credentials are the kubeconfigs of each component.
type credentials struct {
	controllerManager, scheduler, kwok string
}

func (c *Cluster) writeCredentials() (*credentials, error) {
	p, err := newPKI(filepath.Join(c.dir, "pki"))
	if err != nil {
		return nil, err
	}
	c.pki = p
	if _, _, err := p.issue("apiserver", "kube-apiserver", nil, true,
		"127.0.0.1", "localhost", "10.0.0.1", "kubernetes", "kubernetes.default",
		"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"); err != nil {
		return nil, err
	}
	if _, _, err := p.serviceAccountKeys(); err != nil {
		return nil, err
	}
	creds := &credentials{}
	users := []struct {
		file, cn string
		groups   []string
		dst      *string
	}{
		{"admin", "carina-admin", []string{"system:masters"}, &c.kubeconfig},
		// The controller-manager acts as itself with full rights (system:masters)
		// instead of minting a token per controller: that saves seconds at start
		// and changes nothing a throwaway cluster needs.
		{"controller-manager", "system:kube-controller-manager", []string{"system:masters"}, &creds.controllerManager},
		{"scheduler", "system:kube-scheduler", nil, &creds.scheduler},
		{"kwok", "kwok", []string{"system:masters"}, &creds.kwok},
	}
	for _, u := range users {
		certPEM, keyPEM, err := p.issue(u.file, u.cn, u.groups, false)
		if err != nil {
			return nil, err
		}
		*u.dst = filepath.Join(c.dir, u.file+".kubeconfig")
		if err := p.writeKubeconfig(*u.dst, c.server, u.cn, certPEM, keyPEM); err != nil {
			return nil, err
		}
	}
	c.rest, err = clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return nil, err
	}
	c.rest.QPS, c.rest.Burst = 500, 1000
	return creds, nil
}

func (c *Cluster) startAPIServer(bins *Binaries, etcdURL string, port int) error {
	c.auditLog = filepath.Join(c.dir, "logs", "audit.log")
	policy := filepath.Join(c.dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o644); err != nil {
		return err
	}
	pk := c.pki
	_, err := c.group.start("kube-apiserver", bins.KubeAPIServer,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--tls-cert-file="+pk.path("apiserver", "crt"),
		"--tls-private-key-file="+pk.path("apiserver", "key"),
		"--client-ca-file="+pk.path("ca", "crt"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+pk.path("sa", "pub"),
		"--service-account-signing-key-file="+pk.path("sa", "key"),
		"--service-cluster-ip-range=10.0.0.0/16",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--audit-policy-file="+policy,
		"--audit-log-path="+c.auditLog,
		"--audit-log-format=json",
		"--audit-log-mode=blocking",
		"--audit-log-maxsize=0",
		"--audit-log-maxbackup=0",
	)
	return err
}

func (c *Cluster) startControllers(bins *Binaries, creds *credentials) error {
	pk := c.pki
	if _, err := c.group.start("kube-controller-manager", bins.KubeControllerManager,
		"--kubeconfig="+creds.controllerManager,
		"--secure-port=0",
		"--leader-elect=false",
		"--controllers=*",
		"--use-service-account-credentials=false",
		"--service-account-private-key-file="+pk.path("sa", "key"),
		"--root-ca-file="+pk.path("ca", "crt"),
		"--cluster-signing-cert-file="+pk.path("ca", "crt"),
		"--cluster-signing-key-file="+pk.path("ca", "key"),
		"--allocate-node-cidrs=false",
	); err != nil {
		return err
	}
	if _, err := c.group.start("kube-scheduler", bins.KubeScheduler,
		"--kubeconfig="+creds.scheduler,
		"--secure-port=0",
		"--leader-elect=false",
	); err != nil {
		return err
	}
	args := []string{
		"--kubeconfig=" + creds.kwok,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + kwokNodeAnnotation + "=fake",
		"--cidr=10.244.0.0/16",
		"--node-ip=10.1.0.1",
	}
	for _, s := range bins.Stages {
		args = append(args, "--config="+s)
	}
	_, err := c.group.start("kwok", bins.Kwok, args...)
	return err
}

// Kubeconfig is the path of the admin kubeconfig (user carina-admin in
// group system:masters).
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// RESTConfig returns a copy of the admin client configuration.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.rest) }

// Binaries are the cached binaries the cluster runs (kubectl included, for
// baselines in benchmarks and for people).
func (c *Cluster) Binaries() *Binaries { return c.bins }

// Server is the API server URL.
func (c *Cluster) Server() string { return c.server }

// Name is the cluster's name from Options.
func (c *Cluster) Name() string { return c.name }

// Dir is the cluster's temporary directory (logs are in Dir()/logs).
func (c *Cluster) Dir() string { return c.dir }

// StartupDuration is the time Start took once the binaries were cached.
func (c *Cluster) StartupDuration() time.Duration { return c.startup }

// PIDs are the process IDs of the cluster's components.
func (c *Cluster) PIDs() []int { return c.group.pids() }

// Client returns a typed admin client.
func (c *Cluster) Client() (kubernetes.Interface, error) {
	return kubernetes.NewForConfig(c.RESTConfig())
}

// UserConfig returns a client configuration for a client certificate with
// the given user name and groups, for RBAC tests. It has no rights until
// RBAC grants some.
func (c *Cluster) UserConfig(user string, groups ...string) (*rest.Config, error) {
	// A file name of its own per call: concurrent calls for one user must
	// not overwrite each other's key pair.
	certPEM, keyPEM, err := c.pki.issue("user-"+sanitize(user)+"-"+randomSuffix(), user, groups, false)
	if err != nil {
		return nil, err
	}
	return &rest.Config{
		Host:            c.server,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.pki.caPEM, CertData: certPEM, KeyData: keyPEM},
		QPS:             c.rest.QPS,
		Burst:           c.rest.Burst,
	}, nil
}

// Stop terminates every component and removes the cluster's directory.
// It is safe to call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.group.stop(2 * time.Second) })
	return c.stopErr
}

// Logs returns the last lines of each component's log, for failure reports.
func (c *Cluster) Logs(lines int) string {
	var b strings.Builder
	for _, p := range c.group.procs {
		fmt.Fprintf(&b, "==> %s <==\n%s\n", p.name, tail(p.log, lines))
	}
	return b.String()
}

// sweepStale removes directories of clusters whose owner process is gone
// and whose watchdog could not clean up (for example after a reboot).
func sweepStale(parent string) {
	if parent == "" {
		parent = os.TempDir()
	}
	dirs, _ := filepath.Glob(filepath.Join(parent, "carina-cluster-*"))
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, "owner"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || processAlive(pid) {
			continue
		}
		os.RemoveAll(d)
	}
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, s)
}
