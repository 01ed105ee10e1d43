package helm

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/carina-gitops/carina/internal/egress"
)

// Options bounds and configures a render. The zero value of a limit means
// "no limit" nowhere: use DefaultOptions and change what you need.
type Options struct {
	// MaxChartBytes caps the uncompressed size of a chart's files, summed over
	// the chart and all its subcharts (vendored archives included).
	MaxChartBytes int64
	// MaxChartFiles caps the number of files in a chart and its subcharts.
	MaxChartFiles int
	// MaxFileBytes caps one chart file or one values file.
	MaxFileBytes int64
	// MaxArchiveBytes caps a chart archive (.tgz) downloaded from a chart
	// repository or an OCI registry, or read from the repository.
	MaxArchiveBytes int64
	// MaxIndexBytes caps a chart repository's index.yaml.
	MaxIndexBytes int64
	// MaxOutputBytes caps the rendered manifests, summed over all templates.
	MaxOutputBytes int64

	// CacheDir holds downloaded repository indexes and chart archives
	// between renders. Empty disables the disk cache.
	CacheDir string
	// IndexTTL is how long a cached index.yaml is used before it is fetched
	// again. A version missing from a cached index always triggers a fetch.
	IndexTTL time.Duration
	// HTTPClient fetches indexes, archives and OCI blobs. Nil uses a client
	// with sane timeouts. Deadlines come from the context passed to Render.
	// Its transport, when nil or an *http.Transport, connects through
	// Egress's dialer; another RoundTripper is used as it is.
	HTTPClient *http.Client `json:"-"`
	// Egress decides which addresses chart downloads may connect to,
	// checked at dial time (redirects included); nil is
	// egress.Default(). It travels to render workers with the options.
	Egress *egress.Policy `json:"egress,omitempty"`

	// IncludeHooks renders Helm hooks that run on install or upgrade as
	// ordinary objects, keeping their helm.sh/hook annotations, as
	// `helm template` and Argo CD do. Test hooks and hooks that only run on
	// delete or rollback are always dropped.
	IncludeHooks bool

	// Credentials authenticate to private chart repositories and OCI
	// registries, each to its own host only (see Credential).
	Credentials []Credential
}

// DefaultOptions returns the limits Carina uses unless configured otherwise.
// The disk cache lives under the user's cache directory when there is one.
func DefaultOptions() Options {
	cache := ""
	if dir, err := os.UserCacheDir(); err == nil {
		cache = filepath.Join(dir, "carina", "helm")
	}
	return Options{
		MaxChartBytes:   32 << 20,
		MaxChartFiles:   5000,
		MaxFileBytes:    5 << 20,
		MaxArchiveBytes: 16 << 20,
		MaxIndexBytes:   64 << 20,
		MaxOutputBytes:  32 << 20,
		CacheDir:        cache,
		IndexTTL:        10 * time.Minute,
		IncludeHooks:    true,
	}
}

func (o Options) httpClient() *http.Client {
	c := o.guardedClient()
	if len(o.Credentials) == 0 {
		return c
	}
	wrapped, err := credClient(c, o.Credentials)
	if err != nil {
		// A bad CA fails every request to that repository, not another.
		return &http.Client{Transport: failing{err}}
	}
	return wrapped
}

// guarded holds the clients guardedClient made, one per base client and
// egress policy, so that their connections are reused across renders.
var guarded sync.Map // guardKey → *http.Client

type guardKey struct {
	base  *http.Client
	rules string
}

// guardedClient is HTTPClient (or the default client) with its transport
// connecting through Egress's dialer.
func (o Options) guardedClient() *http.Client {
	base := o.HTTPClient
	if base == nil {
		base = defaultHTTPClient
	}
	rules, _ := json.Marshal(o.Egress)
	key := guardKey{base, string(rules)}
	if c, ok := guarded.Load(key); ok {
		return c.(*http.Client)
	}
	c := *base
	switch t := base.Transport.(type) {
	case nil:
		c.Transport = o.Egress.Transport(nil)
	case *http.Transport:
		c.Transport = o.Egress.Transport(t)
	}
	got, _ := guarded.LoadOrStore(key, &c)
	return got.(*http.Client)
}

// failing fails every request with err.
type failing struct{ err error }

func (f failing) RoundTrip(*http.Request) (*http.Response, error) { return nil, f.err }

var defaultHTTPClient = &http.Client{
	Timeout: 2 * time.Minute,
	Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
	},
}
