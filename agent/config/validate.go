package config

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/carina-gitops/carina/internal/egress"
	"github.com/carina-gitops/carina/source"
	"github.com/carina-gitops/carina/source/webhook"
)

// validator collects semantic problems with the position of their path.
type validator struct {
	file string
	idx  map[string]pos
	errs ErrorList
}

// addf records a problem at path, positioned at the nearest written
// ancestor of path (a default has no position of its own).
func (v *validator) addf(p, format string, args ...any) {
	e := &Error{File: v.file, Path: p, Msg: fmt.Sprintf(format, args...)}
	for q := p; ; {
		if at, ok := v.idx[q]; ok {
			e.Line, e.Col = at.line, at.col
			break
		}
		i := strings.LastIndexAny(q, ".[")
		if i < 0 {
			break
		}
		q = q[:i]
	}
	v.errs = append(v.errs, e)
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func (v *validator) name(p, n string) {
	switch {
	case n == "":
		v.addf(p, "a name is required")
	case len(n) > 63 || !dnsLabel.MatchString(n):
		v.addf(p, "name %q must be a DNS-1123 label (lower-case letters, digits and '-', at most 63)", n)
	}
}

func (v *validator) config(c *Config) {
	v.sources(c)
	v.clusters(c)
	v.webhooks(c)
	v.server(c.Server)
	v.reconcile(c.Reconcile)
	v.drift(c.Drift)
	v.limits(c.Limits)
	v.leaderElection(c)
	v.egress(c.Egress)
	if c.CacheDir != "" && !path.IsAbs(c.CacheDir) {
		v.addf("cacheDir", "must be an absolute path")
	}
}

func (v *validator) sources(c *Config) {
	if len(c.Sources.Apps) == 0 {
		v.addf("sources.apps", "at least one application source is required")
	}
	seen := map[string]string{}
	check := func(list string, srcs []Source) {
		for i, s := range srcs {
			p := fmt.Sprintf("sources.%s[%d]", list, i)
			v.name(p+".name", s.Name)
			if prev, ok := seen[s.Name]; ok && s.Name != "" {
				v.addf(p+".name", "source %q is already defined at %s", s.Name, prev)
			}
			seen[s.Name] = p
			if s.URL == "" {
				v.addf(p+".url", "a URL is required")
				continue
			}
			v.sourceRef(p, s, c.AllowFileURLs)
			if s.Definitions != "" && !insideRepo(s.Definitions) {
				v.addf(p+".definitions", "path %q must stay inside the repository", s.Definitions)
			}
			if list == "capabilities" && s.Prune != nil {
				v.addf(p+".prune", "prune applies to application sources only")
			}
			if list == "capabilities" && s.MaxPruneFraction != nil {
				v.addf(p+".maxPruneFraction", "the mass-deletion guard applies to application sources only")
			}
			if list == "capabilities" && s.AllowEmpty {
				v.addf(p+".allowEmpty", "the mass-deletion guard applies to application sources only")
			}
			if s.Forge != nil {
				v.forge(p+".forge", list, s)
			}
			if list == "capabilities" && s.Strict {
				v.addf(p+".strict", "strict applies to application sources only (their apps' renders)")
			}
			if f := s.MaxPruneFraction; f != nil && (*f <= 0 || *f > 1) {
				v.addf(p+".maxPruneFraction", "must be more than 0 and at most 1, got %g", *f)
			}
		}
	}
	check("apps", c.Sources.Apps)
	check("capabilities", c.Sources.Capabilities)
}

// forge checks a source's forge section.
func (v *validator) forge(p, list string, s Source) {
	f := s.Forge
	if list == "capabilities" {
		v.addf(p, "a forge applies to application sources only")
		return
	}
	switch f.Kind {
	case "github", "gitlab":
	case "gitea":
		if f.APIURL == "" {
			v.addf(p+".apiURL", "a gitea forge needs its API URL, like https://git.example.com/api/v1")
		}
	default:
		v.addf(p+".kind", "kind %q is not one of github, gitlab, gitea", f.Kind)
	}
	if f.TokenFile == "" {
		v.addf(p+".tokenFile", "a token file is required")
	}
	if _, err := s.ForgeRepo(); err != nil {
		v.addf(p+".repo", "%v", err)
	}
	for _, kv := range [][2]string{{"apiURL", f.APIURL}, {"statusURL", f.StatusURL}} {
		key, raw := kv[0], kv[1]
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			v.addf(p+"."+key, "%q is not an http(s) URL without credentials", raw)
		}
	}
}

// ForgeRepo is the source's owner/name on its forge: Forge.Repo, or the
// path of its URL.
func (s Source) ForgeRepo() (string, error) {
	if s.Forge != nil && s.Forge.Repo != "" {
		return s.Forge.Repo, nil
	}
	u, err := url.Parse(s.URL)
	repo := ""
	if err == nil {
		repo = strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
	}
	if !strings.Contains(repo, "/") {
		return "", fmt.Errorf("set repo (owner/name): the source URL %q has no owner/name path", s.URL)
	}
	return repo, nil
}

func insideRepo(p string) bool {
	clean := path.Clean(p)
	return !path.IsAbs(p) && clean != ".." && !strings.HasPrefix(clean, "../") && !strings.Contains(p, "\\")
}

func (v *validator) clusters(c *Config) {
	if len(c.Clusters) == 0 {
		v.addf("clusters", "at least one cluster is required")
	}
	seen := map[string]bool{}
	for i, cl := range c.Clusters {
		p := fmt.Sprintf("clusters[%d]", i)
		v.name(p+".name", cl.Name)
		if seen[cl.Name] && cl.Name != "" {
			v.addf(p+".name", "cluster %q is defined twice", cl.Name)
		}
		seen[cl.Name] = true
		n := 0
		if cl.Kubeconfig != nil {
			n++
			if cl.Kubeconfig.File == "" {
				v.addf(p+".kubeconfig.file", "a kubeconfig file is required")
			}
		}
		if cl.InCluster {
			n++
		}
		if s := cl.Secret; s != nil {
			n++
			v.secretRef(p+".secret", s, c)
		}
		if n != 1 {
			v.addf(p, "set exactly one of kubeconfig, inCluster and secret")
		}
		if cl.QPS < 0 || cl.Burst < 0 {
			v.addf(p, "qps and burst must not be negative")
		}
	}
}

func (v *validator) secretRef(p string, s *SecretKubeconfig, c *Config) {
	if s.Namespace == "" {
		v.addf(p, "a namespace is required")
	}
	if s.Name == "" {
		v.addf(p, "a Secret name is required")
	}
	if s.Cluster == "" {
		return
	}
	for _, cl := range c.Clusters {
		if cl.Name == s.Cluster {
			if cl.Secret != nil {
				v.addf(p+".cluster", "cluster %q itself comes from a Secret; read Secrets from a kubeconfig or in-cluster cluster", s.Cluster)
			}
			return
		}
	}
	v.addf(p+".cluster", "cluster %q is not defined", s.Cluster)
}

func (v *validator) webhooks(c *Config) {
	seen := map[string]bool{}
	for i, w := range c.Webhooks {
		p := fmt.Sprintf("webhooks[%d]", i)
		switch webhook.Provider(w.Provider) {
		case webhook.GitHub, webhook.GitLab, webhook.Gitea, webhook.BitbucketCloud, webhook.BitbucketServer, webhook.Generic,
			webhook.Distribution, webhook.RegistryGeneric:
		default:
			v.addf(p+".provider", "provider %q is not one of github, gitlab, gitea, bitbucket-cloud, bitbucket-server, generic, distribution, registry-generic", w.Provider)
		}
		if !strings.HasPrefix(w.Path, "/hooks/") || path.Clean(w.Path) != w.Path || strings.ContainsAny(w.Path, "{}? ") {
			v.addf(p+".path", "path %q must be a clean path under /hooks/", w.Path)
		}
		if seen[w.Path] {
			v.addf(p+".path", "path %q is used twice", w.Path)
		}
		seen[w.Path] = true
		if (w.SecretFile == "") == (w.SecretEnv == "") {
			v.addf(p, "set exactly one of secretFile and secretEnv: a signature is always required")
		}
	}
}

func (v *validator) server(s Server) {
	if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		v.addf("server.listen", "address %q is not host:port", s.Listen)
	}
	if s.DebugAddr != "" {
		host, _, err := net.SplitHostPort(s.DebugAddr)
		ip := net.ParseIP(host)
		if err != nil || host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			v.addf("server.debugAddr", "address %q must be a loopback host:port, like 127.0.0.1:6060", s.DebugAddr)
		}
	}
	if s.API.TokenFile != "" && s.API.TokenEnv != "" {
		v.addf("server.api", "set only one of tokenFile and tokenEnv")
	}
	if s.API.AllowWrites && s.API.TokenFile == "" && s.API.TokenEnv == "" {
		v.addf("server.api.allowWrites", "writes need a bearer token (tokenFile or tokenEnv)")
	}
}

func (v *validator) duration(p string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		v.addf(p, "%s is outside [%s, %s]", d, lo, hi)
	}
}

func (v *validator) reconcile(r Reconcile) {
	if r.Workers < 1 || r.Workers > 256 {
		v.addf("reconcile.workers", "%d is outside [1, 256]", r.Workers)
	}
	v.duration("reconcile.pollInterval", r.PollInterval, time.Second, 24*time.Hour)
	v.duration("reconcile.resync", r.Resync, 10*time.Second, 24*time.Hour)
	v.duration("reconcile.itemTimeout", r.ItemTimeout, time.Second, 6*time.Hour)
	v.duration("reconcile.stepTimeout", r.StepTimeout, time.Second, 24*time.Hour)
	v.duration("reconcile.minBackoff", r.MinBackoff, 10*time.Millisecond, time.Hour)
	v.duration("reconcile.maxBackoff", r.MaxBackoff, r.MinBackoff, 24*time.Hour)
	v.duration("reconcile.shutdownTimeout", r.ShutdownTimeout, time.Second, 10*time.Second)
	if r.History < 1 || r.History > 1000 {
		v.addf("reconcile.history", "%d is outside [1, 1000]", r.History)
	}
}

func (v *validator) drift(d Drift) {
	if d.Workers < 1 || d.Workers > 64 {
		v.addf("drift.workers", "%d is outside [1, 64]", d.Workers)
	}
	if d.ContestCorrections < 1 || d.ContestCorrections > 100 {
		v.addf("drift.contestCorrections", "%d is outside [1, 100]", d.ContestCorrections)
	}
	v.duration("drift.contestWindow", d.ContestWindow, time.Second, 24*time.Hour)
	v.duration("drift.contestBackoff", d.ContestBackoff, time.Second, 24*time.Hour)
	v.duration("drift.contestMaxBackoff", d.ContestMaxBackoff, d.ContestBackoff, 24*time.Hour)
}

func (v *validator) limits(l Limits) {
	if l.Fetch.MaxBytes < 0 || l.Fetch.MaxFiles < 0 || l.Render.MaxObjects < 0 || l.Render.MaxOutputBytes < 0 || l.Render.Workers < 0 || l.Render.WorkerMemory < 0 {
		v.addf("limits", "limits must not be negative")
	}
	v.duration("limits.fetch.timeout", l.Fetch.Timeout, time.Second, time.Hour)
	v.duration("limits.render.timeout", l.Render.Timeout, 100*time.Millisecond, time.Hour)
}

func (v *validator) leaderElection(c *Config) {
	l := c.LeaderElection
	if !l.On() {
		return
	}
	v.name("leaderElection.namespace", l.Namespace)
	v.name("leaderElection.name", l.Name)
	found := false
	for _, cl := range c.Clusters {
		found = found || cl.Name == l.Cluster
	}
	if !found && len(c.Clusters) > 0 {
		v.addf("leaderElection.cluster", "cluster %q is not defined", l.Cluster)
	}
	v.duration("leaderElection.retryPeriod", l.RetryPeriod, 100*time.Millisecond, time.Minute)
	v.duration("leaderElection.renewDeadline", l.RenewDeadline, l.RetryPeriod+1, time.Minute)
	// The leader stops writing once its lease has gone unrenewed for the
	// renew deadline; what it sent before must land before the lease runs
	// out for the followers.
	v.duration("leaderElection.leaseDuration", l.LeaseDuration, l.RenewDeadline+l.RetryPeriod, 5*time.Minute)
}

func (v *validator) egress(e Egress) {
	for _, f := range []struct {
		name string
		list []string
	}{{"denyCIDRs", e.DenyCIDRs}, {"allowCIDRs", e.AllowCIDRs}} {
		for i, c := range f.list {
			if _, err := egress.New(egress.Rules{DenyCIDRs: []string{c}}); err != nil {
				v.addf(fmt.Sprintf("egress.%s[%d]", f.name, i), "%q is not a CIDR range (like 10.0.0.0/8) or an IP address", c)
			}
		}
	}
}

// SourceRef returns the source.Ref the source names.
func (s Source) SourceRef() source.Ref {
	return source.Ref{
		URL: s.URL, Branch: s.Branch, Tag: s.Tag, SemVer: s.SemVer, TagPrefix: s.TagPrefix,
		Commit: s.Commit, Name: s.Ref, Path: s.Path, Interval: s.Interval, Timeout: s.Timeout,
		Auth: source.Auth(s.Auth),
	}
}
