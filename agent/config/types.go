package config

import (
	"time"

	"github.com/carina-gitops/carina/internal/egress"
)

// Config is the agent's configuration file, carina.yaml.
type Config struct {
	// Sources are the repositories the agent reads.
	Sources Sources `yaml:"sources"`
	// Clusters are the clusters environments deploy to, by name.
	Clusters []Cluster `yaml:"clusters"`
	// Webhooks are the receivers mounted under /hooks/.
	Webhooks []Webhook `yaml:"webhooks"`
	// Server configures the HTTP listeners.
	Server Server `yaml:"server"`
	// Reconcile configures the work queue and its workers.
	Reconcile Reconcile `yaml:"reconcile"`
	// Limits bound fetches and renders.
	Limits Limits `yaml:"limits"`
	// LeaderElection configures the Lease that makes one replica write.
	LeaderElection LeaderElection `yaml:"leaderElection"`
	// Drift configures the drift watchers.
	Drift Drift `yaml:"drift"`
	// CacheDir holds repository caches and snapshot trees.
	CacheDir string `yaml:"cacheDir"`
	// AllowFileURLs permits file:// and local-path sources (development
	// only: it lets the configuration read the agent's disk).
	AllowFileURLs bool `yaml:"allowFileURLs"`
	// Egress says where the agent may connect when it follows what a
	// repository or this file names: Git remotes, OCI registries, chart
	// repositories, forge APIs and notify URLs, redirects included. Each
	// connection is checked at dial time, on the address it is made to.
	// Link-local addresses (169.254.0.0/16, fe80::/10: the cloud metadata
	// services), the other cloud metadata addresses (fd00:ec2::254,
	// 100.100.100.200, 192.0.0.192), the unspecified address, multicast
	// and broadcast are always refused; loopback and private ranges are
	// allowed unless denied here. The clusters' API servers are not
	// subject to it.
	Egress Egress `yaml:"egress"`
}

// Egress bounds where the agent connects (see Config.Egress).
type Egress struct {
	// DenyPrivate refuses the private ranges 10.0.0.0/8, 172.16.0.0/12,
	// 192.168.0.0/16, 100.64.0.0/10 and fc00::/7.
	DenyPrivate bool `yaml:"denyPrivate"`
	// DenyLoopback refuses 127.0.0.0/8 and ::1.
	DenyLoopback bool `yaml:"denyLoopback"`
	// DenyCIDRs refuses these ranges ("203.0.113.0/24") or addresses.
	DenyCIDRs []string `yaml:"denyCIDRs"`
	// AllowCIDRs are exceptions to denyPrivate, denyLoopback and
	// denyCIDRs (an in-cluster Git server while private ranges are
	// denied); never to what is always refused.
	AllowCIDRs []string `yaml:"allowCIDRs"`
}

// Policy is the egress policy of the section. Parse has checked it, so
// it fails only on a Config built by hand.
func (e Egress) Policy() (*egress.Policy, error) {
	return egress.New(egress.Rules{DenyPrivate: e.DenyPrivate, DenyLoopback: e.DenyLoopback, DenyCIDRs: e.DenyCIDRs, AllowCIDRs: e.AllowCIDRs})
}

// Sources lists application and capability repositories.
type Sources struct {
	// Apps are repositories holding applications (Appfiles or KubeVela
	// Applications), discovered under Path.
	Apps []Source `yaml:"apps"`
	// Capabilities are repositories of CUE definitions, read from Path.
	Capabilities []Source `yaml:"capabilities"`
}

// Source is one Git repository reference.
type Source struct {
	// Name identifies the source in status, metrics and logs.
	Name string `yaml:"name"`
	// URL of the repository; credentials in it are refused.
	URL string `yaml:"url"`
	// At most one of Branch, Tag, SemVer, Commit and Ref picks the commit;
	// none follows the remote's default branch.
	Branch    string `yaml:"branch"`
	Tag       string `yaml:"tag"`
	SemVer    string `yaml:"semver"`
	TagPrefix string `yaml:"tagPrefix"`
	Commit    string `yaml:"commit"`
	// Ref follows any ref by its full name, "refs/pull/42/head".
	Ref string `yaml:"ref"`
	// Path is the directory inside the repository to read.
	Path string `yaml:"path"`
	// Definitions, for an app source, is a directory of the repository
	// holding the repository's own definitions (highest precedence).
	Definitions string `yaml:"definitions"`
	// Interval between polls; zero means Reconcile.PollInterval.
	Interval time.Duration `yaml:"interval"`
	// Timeout bounds one fetch; zero means Limits.Fetch.Timeout.
	Timeout time.Duration `yaml:"timeout"`
	// Auth names where credentials live (files or environment variables).
	Auth Auth `yaml:"auth"`
	// Prune, for an app source, deletes the objects and inventories of an
	// application (or environment) that leaves the source; true by
	// default. With false they stay in the clusters, unmanaged.
	Prune *bool `yaml:"prune"`
	// MaxPruneFraction, for an app source, is the mass-deletion guard: a
	// snapshot that would remove more than this fraction of the source's
	// deployments (one per application, environment and cluster), or all
	// of them, prunes nothing until a person confirms it (`carina prune
	// confirm`). 0.5 when unset; 1 holds only a snapshot that removes
	// everything.
	MaxPruneFraction *float64 `yaml:"maxPruneFraction"`
	// AllowEmpty turns the mass-deletion guard off for this source: any
	// number of its applications may be pruned at once, all of them
	// included.
	AllowEmpty bool `yaml:"allowEmpty"`
	// Strict, for an app source, makes what KubeVela only warns about an
	// error for its applications' renders: a trait outside its
	// appliesToWorkloads and two traits that conflictsWith names (as
	// `carina render --strict`). Off, they render and the environment's
	// status lists them as warnings.
	Strict bool `yaml:"strict"`
	// Digest pins the manifest of an oci:// source ("sha256:<hex>");
	// Tag and SemVer also apply to oci:// sources.
	Digest string `yaml:"digest"`
	// Insecure allows plain HTTP for an oci:// source.
	Insecure bool `yaml:"insecure"`
	// Verify requires a cosign signature on an oci:// source's artifacts.
	Verify *Verify `yaml:"verify"`
	// Decryption gives the keys that decrypt this source's SOPS files.
	// A source can only use its own keys.
	Decryption *Decryption `yaml:"decryption"`
	// HelmRepositories hold the credentials of the private chart
	// repositories (HTTPS or OCI) that this source's apps name.
	HelmRepositories []HelmRepository `yaml:"helmRepositories"`
	// Forge, for an app source, is the forge's API of its repository: the
	// agent posts commit statuses (carina/<env>) to it.
	Forge *Forge `yaml:"forge"`
}

// Forge is the API of the forge that hosts an app source's repository.
type Forge struct {
	// Kind is github, gitlab or gitea (also Forgejo).
	Kind string `yaml:"kind"`
	// APIURL is the API's base URL; the public one for github and gitlab
	// when unset, required for gitea ("https://git.example.com/api/v1").
	APIURL string `yaml:"apiURL"`
	// Repo is owner/name on the forge; the source URL's path when unset.
	Repo string `yaml:"repo"`
	// TokenFile holds the API token (it needs to write commit statuses).
	TokenFile string `yaml:"tokenFile"`
	// StatusURL is the base URL of this agent's API, which commit
	// statuses link to ("https://carina.example.com"); none when unset.
	StatusURL string `yaml:"statusURL"`
}

// Prunes reports whether the source prunes removed applications: Prune,
// true when unset.
func (s Source) Prunes() bool { return s.Prune == nil || *s.Prune }

// DefaultMaxPruneFraction is the mass-deletion guard's threshold when a
// source sets none.
const DefaultMaxPruneFraction = 0.5

// PruneFraction is MaxPruneFraction, or DefaultMaxPruneFraction when
// unset.
func (s Source) PruneFraction() float64 {
	if s.MaxPruneFraction == nil {
		return DefaultMaxPruneFraction
	}
	return *s.MaxPruneFraction
}

// Auth names credential files and environment variables; never values.
type Auth struct {
	Username             string `yaml:"username"`
	UsernameFile         string `yaml:"usernameFile"`
	PasswordFile         string `yaml:"passwordFile"`
	PasswordEnv          string `yaml:"passwordEnv"`
	BearerTokenFile      string `yaml:"bearerTokenFile"`
	BearerTokenEnv       string `yaml:"bearerTokenEnv"`
	SSHKeyFile           string `yaml:"sshKeyFile"`
	SSHKeyPassphraseFile string `yaml:"sshKeyPassphraseFile"`
	KnownHostsFile       string `yaml:"knownHostsFile"`
	CAFile               string `yaml:"caFile"`
}

// Cluster is a named target cluster. Exactly one of Kubeconfig, InCluster
// and Secret says how to reach it.
type Cluster struct {
	Name string `yaml:"name"`
	// Kubeconfig is a kubeconfig file and context.
	Kubeconfig *Kubeconfig `yaml:"kubeconfig"`
	// InCluster uses the agent's own service account.
	InCluster bool `yaml:"inCluster"`
	// Secret is a kubeconfig held in a Secret of the agent's home cluster
	// (the in-cluster config, or the cluster named by Secret.Cluster).
	Secret *SecretKubeconfig `yaml:"secret"`
	// AllowExec permits kubeconfig exec credential plugins, which run a
	// program on the agent's host. Refused unless set.
	AllowExec bool `yaml:"allowExec"`
	// QPS and Burst bound the client's request rate; zero means defaults.
	QPS   float32 `yaml:"qps"`
	Burst int     `yaml:"burst"`
}

// Kubeconfig points at a kubeconfig file.
type Kubeconfig struct {
	File    string `yaml:"file"`
	Context string `yaml:"context"`
}

// SecretKubeconfig points at a kubeconfig in a Secret.
type SecretKubeconfig struct {
	// Cluster reads the Secret from another configured cluster; empty
	// means the in-cluster config.
	Cluster   string `yaml:"cluster"`
	Namespace string `yaml:"namespace"`
	Name      string `yaml:"name"`
	// Key in the Secret's data; "value" by default.
	Key     string `yaml:"key"`
	Context string `yaml:"context"`
}

// Webhook is one receiver, mounted at Path.
type Webhook struct {
	// Provider is github, gitlab, gitea, bitbucket-cloud,
	// bitbucket-server or generic for Git forges; distribution or
	// registry-generic for OCI registries, whose pushes wake the oci://
	// sources of the pushed repository.
	Provider string `yaml:"provider"`
	// Path under /hooks/; "/hooks/<provider>" by default.
	Path string `yaml:"path"`
	// SecretFile or SecretEnv holds the HMAC secret (GitLab's token; for
	// distribution, the bearer token its notification endpoint sends in
	// "Authorization: Bearer <secret>").
	SecretFile string `yaml:"secretFile"`
	SecretEnv  string `yaml:"secretEnv"`
}

// Server configures the HTTP listeners.
type Server struct {
	// Listen is the address of the API, /metrics, health and webhooks.
	Listen string `yaml:"listen"`
	// DebugAddr serves pprof when set; it must be a loopback address.
	DebugAddr string `yaml:"debugAddr"`
	// API configures authentication and writes.
	API API `yaml:"api"`
}

// API configures the status API.
type API struct {
	// TokenFile or TokenEnv holds a bearer token the API requires.
	TokenFile string `yaml:"tokenFile"`
	TokenEnv  string `yaml:"tokenEnv"`
	// AllowWrites enables reconcile, suspend and resume; it needs a token.
	AllowWrites bool `yaml:"allowWrites"`
}

// Reconcile configures the loop.
type Reconcile struct {
	// Workers bounds concurrent work items.
	Workers int `yaml:"workers"`
	// PollInterval is the default interval of source polls.
	PollInterval time.Duration `yaml:"pollInterval"`
	// Resync re-checks every (app, env) this often even without changes.
	Resync time.Duration `yaml:"resync"`
	// ItemTimeout bounds one work item.
	ItemTimeout time.Duration `yaml:"itemTimeout"`
	// StepTimeout is the default timeout of deploy and wait-healthy steps.
	StepTimeout time.Duration `yaml:"stepTimeout"`
	// MinBackoff and MaxBackoff bound the per-item retry delay.
	MinBackoff time.Duration `yaml:"minBackoff"`
	MaxBackoff time.Duration `yaml:"maxBackoff"`
	// History is how many reconciles the status keeps per environment.
	History int `yaml:"history"`
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration `yaml:"shutdownTimeout"`
}

// Drift configures finding and correcting drift (docs/drift.md). An
// application's drift policy says what happens to its objects; these are
// the agent-wide knobs.
type Drift struct {
	// Enabled is true by default; false watches nothing (drift made
	// outside Git is then only undone by the next commit or a forced
	// reconcile).
	Enabled *bool `yaml:"enabled"`
	// Workers bound the confirmations (GET, dry-run) in flight per
	// cluster.
	Workers int `yaml:"workers"`
	// ContestCorrections corrections of one object within ContestWindow
	// make it contested; it is then held off for ContestBackoff, doubling
	// up to ContestMaxBackoff.
	ContestCorrections int           `yaml:"contestCorrections"`
	ContestWindow      time.Duration `yaml:"contestWindow"`
	ContestBackoff     time.Duration `yaml:"contestBackoff"`
	ContestMaxBackoff  time.Duration `yaml:"contestMaxBackoff"`
}

// On reports whether drift is watched.
func (d Drift) On() bool { return d.Enabled == nil || *d.Enabled }

// Limits bound fetches and renders.
type Limits struct {
	Fetch  FetchLimits  `yaml:"fetch"`
	Render RenderLimits `yaml:"render"`
}

// FetchLimits bound one fetch.
type FetchLimits struct {
	MaxBytes ByteSize      `yaml:"maxBytes"`
	MaxFiles int           `yaml:"maxFiles"`
	Timeout  time.Duration `yaml:"timeout"`
}

// RenderLimits bound one render.
type RenderLimits struct {
	Timeout        time.Duration `yaml:"timeout"`
	MaxObjects     int           `yaml:"maxObjects"`
	MaxOutputBytes ByteSize      `yaml:"maxOutputBytes"`
	// Workers is the number of render worker processes; one per CPU by
	// default. A render past Timeout has its worker killed.
	Workers int `yaml:"workers"`
	// WorkerMemory caps each render worker's heap (RLIMIT_DATA); 1 GiB by
	// default.
	WorkerMemory ByteSize `yaml:"workerMemory"`
}

// LeaderElection configures the Lease.
type LeaderElection struct {
	// Enabled is true by default; disable it only for a single replica.
	Enabled *bool `yaml:"enabled"`
	// Cluster holds the Lease; the first cluster by default.
	Cluster   string `yaml:"cluster"`
	Namespace string `yaml:"namespace"`
	Name      string `yaml:"name"`
	// Identity of this replica; the host name and pid by default.
	Identity      string        `yaml:"identity"`
	LeaseDuration time.Duration `yaml:"leaseDuration"`
	RenewDeadline time.Duration `yaml:"renewDeadline"`
	RetryPeriod   time.Duration `yaml:"retryPeriod"`
}

// On reports whether leader election is enabled.
func (l LeaderElection) On() bool { return l.Enabled == nil || *l.Enabled }
