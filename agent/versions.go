package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes"

	"github.com/carina-gitops/carina/render"
)

// How often a cluster's version is read again: it changes only when the
// cluster is upgraded.
const (
	versionRefresh = 10 * time.Minute
	// versionRetry is how soon a failed read is tried again.
	versionRetry = time.Minute
	// versionTimeout bounds one read.
	versionTimeout = 10 * time.Second
)

// kubeVersion is a cluster's version as renders see it
// (context.clusterVersion, and Helm's .Capabilities.KubeVersion).
type kubeVersion struct {
	// git is the gitVersion, "v1.30.2" or "v1.28.3-eks-4f4795d": a
	// version both render and Helm parse. "" is unknown: renders use
	// render.DefaultKubeVersion.
	git string
	// platform is "linux/amd64" or the like; "" is unknown.
	platform string
}

// versionReader reads a cluster's /version.
type versionReader func(ctx context.Context, cluster string) (version.Info, error)

// clusterVersions caches each target cluster's Kubernetes version. A
// cluster is read on first use and again after versionRefresh; a failed
// read keeps what was read before (or nothing: the default) and is
// tried again after versionRetry. A failure is logged once, until a read
// succeeds. Reads of one cluster are serialised, so that the workers
// rendering for it wait for one read instead of each making their own.
type clusterVersions struct {
	log                     *slog.Logger
	now                     func() time.Time
	refresh, retry, timeout time.Duration

	mu      sync.Mutex
	read    versionReader // nil: no cluster is read
	entries map[string]*versionEntry
}

// versionEntry is one cluster's cached version.
type versionEntry struct {
	mu      sync.Mutex // held during a read
	v       kubeVersion
	checked time.Time // of the last read that finished
	err     error     // of the last read; nil after a success
}

func newClusterVersions(log *slog.Logger, now func() time.Time) *clusterVersions {
	return &clusterVersions{log: log, now: now, refresh: versionRefresh, retry: versionRetry, timeout: versionTimeout,
		entries: map[string]*versionEntry{}}
}

// use makes the cache read clusters with read.
func (c *clusterVersions) use(read versionReader) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.read = read
}

func (c *clusterVersions) entry(cluster string) (*versionEntry, versionReader) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[cluster]
	if !ok {
		e = &versionEntry{}
		c.entries[cluster] = e
	}
	return e, c.read
}

// get returns cluster's version for a render, reading it when it is not
// cached or its time is up. The error says why the version is unknown
// (nil when it is known or no reader is set): the render then uses the
// default.
func (c *clusterVersions) get(ctx context.Context, cluster string) (kubeVersion, error) {
	e, read := c.entry(cluster)
	if read == nil {
		return kubeVersion{}, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.checked.IsZero() {
		ttl := c.refresh
		if e.err != nil {
			ttl = c.retry
		}
		if c.now().Sub(e.checked) < ttl {
			return e.v, e.unknown()
		}
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	info, err := read(rctx, cluster)
	var v kubeVersion
	if err == nil {
		v, err = versionOf(info)
	}
	if ctx.Err() != nil {
		// The caller gave up: not the cluster's failure; read next time.
		return e.v, e.unknown()
	}
	e.checked = c.now()
	if err != nil {
		if e.err == nil {
			c.log.Warn("cluster version unreadable; renders use the last one read, or the default", "cluster", cluster,
				"version", orDefault(e.v.git, render.DefaultKubeVersion), "error", sanitize(err, time.Time{}).Message)
		}
		e.err = fmt.Errorf("the version of cluster %s could not be read: %w", cluster, err)
		return e.v, e.unknown()
	}
	if e.err != nil || e.v != v {
		c.log.Info("cluster version read", "cluster", cluster, "version", v.git, "previous", e.v.git)
	}
	e.v, e.err = v, nil
	return v, nil
}

// unknown is the error of an entry whose version was never read. e.mu is
// held.
func (e *versionEntry) unknown() error {
	if e.v.git != "" {
		return nil
	}
	return e.err
}

// semverish is a gitVersion render and Helm both parse.
var semverish = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]*)?$`)

// versionOf turns a cluster's /version into a kubeVersion: its
// gitVersion, or "v<major>.<minor>.0" when the gitVersion is not a
// version (minor may carry a "+", as some providers report it).
func versionOf(info version.Info) (kubeVersion, error) {
	v := kubeVersion{platform: info.Platform}
	if git := strings.TrimSpace(info.GitVersion); semverish.MatchString(git) {
		v.git = git
		return v, nil
	}
	minor := strings.TrimRight(info.Minor, "+")
	if !digits.MatchString(info.Major) || !digits.MatchString(minor) {
		return kubeVersion{}, fmt.Errorf("/version has no usable version (gitVersion %q, major %q, minor %q)", info.GitVersion, info.Major, info.Minor)
	}
	v.git = "v" + info.Major + "." + minor + ".0"
	return v, nil
}

var digits = regexp.MustCompile(`^[0-9]{1,4}$`)

// discoveryVersions reads /version through each cluster's client, with
// the caller's context.
func discoveryVersions(clients map[string]kubernetes.Interface) versionReader {
	return func(ctx context.Context, cluster string) (version.Info, error) {
		c := clients[cluster]
		if c == nil {
			return version.Info{}, errNoCluster(cluster)
		}
		rc := c.Discovery().RESTClient()
		if rc == nil {
			info, err := c.Discovery().ServerVersion()
			if err != nil {
				return version.Info{}, err
			}
			return *info, nil
		}
		body, err := rc.Get().AbsPath("/version").Do(ctx).Raw()
		if err != nil {
			return version.Info{}, err
		}
		var info version.Info
		if err := json.Unmarshal(body, &info); err != nil {
			return version.Info{}, fmt.Errorf("/version: %w", err)
		}
		return info, nil
	}
}

// versionWarning is the status warning of a render whose cluster version
// could not be read.
func versionWarning(err error) string {
	return fmt.Sprintf("context.clusterVersion is Kubernetes %s (the default): %s", render.DefaultKubeVersion, sanitize(err, time.Time{}).Message)
}
