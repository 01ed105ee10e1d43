package config

import (
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// ByteSize is a size in bytes, written as an integer or with a binary
// suffix: 512Ki, 64Mi, 1Gi.
type ByteSize int64

// UnmarshalYAML reads an integer or a suffixed size.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a size must be a scalar like 64Mi", n.Line)}}
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		// A TypeError lets the decoder go on and report other problems.
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*b = v
	return nil
}

// ParseByteSize parses "1048576", "512Ki", "64Mi" or "1Gi".
func ParseByteSize(s string) (ByteSize, error) {
	mult := int64(1)
	num := strings.TrimSpace(s)
	for suf, m := range map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30} {
		if strings.HasSuffix(num, suf) {
			mult, num = m, strings.TrimSuffix(num, suf)
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q is not a non-negative integer with an optional Ki, Mi or Gi suffix", s)
	}
	return ByteSize(n * mult), nil
}

// Defaults of the values a file may leave unset.
const (
	DefaultListen          = ":8080"
	DefaultWorkers         = 4
	DefaultPollInterval    = time.Minute
	DefaultResync          = 10 * time.Minute
	DefaultItemTimeout     = 10 * time.Minute
	DefaultStepTimeout     = 5 * time.Minute
	DefaultMinBackoff      = time.Second
	DefaultMaxBackoff      = 5 * time.Minute
	DefaultHistory         = 20
	DefaultShutdownTimeout = 8 * time.Second
	DefaultLeaseNamespace  = "carina-system"
	DefaultLeaseName       = "carina-agent"
	DefaultLeaseDuration   = 15 * time.Second
	DefaultRenewDeadline   = 10 * time.Second
	DefaultRetryPeriod     = 2 * time.Second
	DefaultCacheDir        = "/var/cache/carina"
	DefaultFetchMaxBytes   = 256 << 20
	DefaultFetchMaxFiles   = 50_000
	DefaultFetchTimeout    = 2 * time.Minute
	DefaultRenderTimeout   = 2 * time.Minute
	DefaultRenderObjects   = 10_000
	DefaultRenderBytes     = 64 << 20
	DefaultRenderMemory    = 1 << 30
	DefaultSecretKey       = "value"
	DefaultDriftWorkers    = 4
	DefaultContestCount    = 3
	DefaultContestWindow   = 2 * time.Minute
	DefaultContestBackoff  = 30 * time.Second
	DefaultContestMax      = 10 * time.Minute
)

func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// setDefaults fills every unset value.
func setDefaults(c *Config) {
	orDefault(&c.Server.Listen, DefaultListen)
	r := &c.Reconcile
	orDefault(&r.Workers, DefaultWorkers)
	orDefault(&r.PollInterval, DefaultPollInterval)
	orDefault(&r.Resync, DefaultResync)
	orDefault(&r.ItemTimeout, DefaultItemTimeout)
	orDefault(&r.StepTimeout, DefaultStepTimeout)
	orDefault(&r.MinBackoff, DefaultMinBackoff)
	orDefault(&r.MaxBackoff, DefaultMaxBackoff)
	orDefault(&r.History, DefaultHistory)
	orDefault(&r.ShutdownTimeout, DefaultShutdownTimeout)
	l := &c.LeaderElection
	orDefault(&l.Namespace, DefaultLeaseNamespace)
	orDefault(&l.Name, DefaultLeaseName)
	orDefault(&l.LeaseDuration, DefaultLeaseDuration)
	orDefault(&l.RenewDeadline, DefaultRenewDeadline)
	orDefault(&l.RetryPeriod, DefaultRetryPeriod)
	if l.Cluster == "" && len(c.Clusters) > 0 {
		l.Cluster = c.Clusters[0].Name
	}
	d := &c.Drift
	orDefault(&d.Workers, DefaultDriftWorkers)
	orDefault(&d.ContestCorrections, DefaultContestCount)
	orDefault(&d.ContestWindow, DefaultContestWindow)
	orDefault(&d.ContestBackoff, DefaultContestBackoff)
	orDefault(&d.ContestMaxBackoff, DefaultContestMax)
	orDefault(&c.CacheDir, DefaultCacheDir)
	f := &c.Limits.Fetch
	orDefault(&f.MaxBytes, DefaultFetchMaxBytes)
	orDefault(&f.MaxFiles, DefaultFetchMaxFiles)
	orDefault(&f.Timeout, DefaultFetchTimeout)
	rl := &c.Limits.Render
	orDefault(&rl.Timeout, DefaultRenderTimeout)
	orDefault(&rl.MaxObjects, DefaultRenderObjects)
	orDefault(&rl.MaxOutputBytes, DefaultRenderBytes)
	orDefault(&rl.WorkerMemory, DefaultRenderMemory)
	orDefault(&rl.Workers, runtime.NumCPU())
	for i := range c.Sources.Apps {
		if c.Sources.Apps[i].Prune == nil {
			c.Sources.Apps[i].Prune = new(true)
		}
	}
	for i := range c.Clusters {
		if s := c.Clusters[i].Secret; s != nil {
			orDefault(&s.Key, DefaultSecretKey)
		}
	}
	for i := range c.Webhooks {
		orDefault(&c.Webhooks[i].Path, "/hooks/"+c.Webhooks[i].Provider)
	}
}
