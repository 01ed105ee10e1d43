package helm

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"
)

// packageChart packages testdata's shop chart at version v with helm's SDK
// and returns the .tgz bytes.
func packageChart(t testing.TB, v string) []byte {
	t.Helper()
	c, err := loader.LoadDir("testdata/repo/charts/shop")
	if err != nil {
		t.Fatal(err)
	}
	c.Metadata.Version = v
	name, err := chartutil.Save(c, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// chartRepo is an HTTP chart repository served by httptest.
type chartRepo struct {
	srv      *httptest.Server
	mu       sync.Mutex
	archives map[string][]byte // path → bytes
	index    *repo.IndexFile
	requests map[string]*atomic.Int32
	chunked  bool // serve without Content-Length
}

func newChartRepo(t *testing.T, versions ...string) *chartRepo {
	r := &chartRepo{archives: map[string][]byte{}, index: repo.NewIndexFile(), requests: map[string]*atomic.Int32{
		"/index.yaml": {},
	}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	for _, v := range versions {
		r.add(t, v, packageChart(t, v), "")
	}
	return r
}

// add publishes an archive as version v, relative to the repository URL.
// A non-empty digest replaces the real one in the index.
func (r *chartRepo) add(t testing.TB, v string, data []byte, digest string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	file := "charts/shop-" + v + ".tgz"
	if digest == "" {
		digest = sha256Hex(data)
	}
	c, err := loader.LoadArchive(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.index.MustAdd(c.Metadata, file, "", digest); err != nil {
		t.Fatal(err)
	}
	r.archives["/"+file] = data
	r.requests["/"+file] = &atomic.Int32{}
}

func (r *chartRepo) count(path string) int32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests[path].Load()
}

func (r *chartRepo) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.requests[req.URL.Path]
	if !ok {
		http.NotFound(w, req)
		return
	}
	n.Add(1)
	var body []byte
	if req.URL.Path == "/index.yaml" {
		r.index.SortEntries()
		var err error
		if body, err = yaml.Marshal(r.index); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	} else {
		body = r.archives[req.URL.Path]
	}
	if !r.chunked {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.Write(body)
	if r.chunked {
		w.(http.Flusher).Flush()
	}
}

func chartLabel(t *testing.T, props map[string]any, opts Options) string {
	t.Helper()
	objs, err := Render(t.Context(), os.DirFS(t.TempDir()), Request{ReleaseName: "shop", Namespace: "shop", Properties: props}, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			return o.GetLabels()["helm.sh/chart"]
		}
	}
	t.Fatal("no Deployment rendered")
	return ""
}

func TestRenderFromHTTPRepository(t *testing.T) {
	r := newChartRepo(t, "0.1.0", "0.2.0", "0.2.1", "0.3.0-rc.1")
	tests := []struct {
		version string
		want    string
	}{
		{"0.1.0", "shop-0.1.0"},
		{"~0.2.0", "shop-0.2.1"},
		{">=0.1.0 <0.2.1", "shop-0.2.0"},
		{"", "shop-0.2.1"}, // newest stable: the release candidate is skipped
		{"0.3.0-rc.1", "shop-0.3.0-rc.1"},
	}
	opts := testOptions(t)
	for _, tt := range tests {
		t.Run("version "+tt.version, func(t *testing.T) {
			props := map[string]any{"chart": "shop", "repoURL": r.srv.URL + "/", "version": tt.version}
			if diff := cmp.Diff(tt.want, chartLabel(t, props, opts)); diff != "" {
				t.Errorf("chart label (-want +got):\n%s", diff)
			}
		})
	}
	// One index fetch served every render above, from the disk cache.
	if got := r.count("/index.yaml"); got != 1 {
		t.Errorf("index.yaml fetched %d times, want 1", got)
	}
}

func TestRenderFromHTTPRepositoryCaches(t *testing.T) {
	r := newChartRepo(t, "0.1.0")
	opts := testOptions(t)
	props := map[string]any{"chart": "shop", "repoURL": r.srv.URL, "version": "0.1.0"}
	for range 3 {
		chartLabel(t, props, opts)
	}
	got := []int32{r.count("/index.yaml"), r.count("/charts/shop-0.1.0.tgz")}
	if diff := cmp.Diff([]int32{1, 1}, got); diff != "" {
		t.Errorf("fetches of index and archive (-want +got):\n%s", diff)
	}

	// A version published after the index was cached is found by fetching
	// the index again, even within IndexTTL.
	r.add(t, "0.4.0", packageChart(t, "0.4.0"), "")
	props["version"] = "0.4.0"
	if diff := cmp.Diff("shop-0.4.0", chartLabel(t, props, opts)); diff != "" {
		t.Errorf("chart label (-want +got):\n%s", diff)
	}
	if got := r.count("/index.yaml"); got != 2 {
		t.Errorf("index.yaml fetched %d times, want 2", got)
	}

	// Without a cache directory every render fetches.
	opts.CacheDir = ""
	chartLabel(t, props, opts)
	chartLabel(t, props, opts)
	if got := r.count("/index.yaml"); got != 4 {
		t.Errorf("index.yaml fetched %d times, want 4", got)
	}
}

func TestRenderFromHTTPRepositoryRefuses(t *testing.T) {
	r := newChartRepo(t, "0.1.0")
	r.add(t, "0.5.0", packageChart(t, "0.5.0"), strings.Repeat("ab", 32))
	chunked := newChartRepo(t, "0.1.0")
	chunked.chunked = true
	small := func(f func(*Options)) Options {
		o := testOptions(t)
		f(&o)
		return o
	}
	secretURL := strings.Replace(r.srv.URL, "http://", "http://carina:s3cret@", 1) + "/nowhere?token=s3cret"
	tests := []struct {
		name  string
		props map[string]any
		opts  Options
		wants []string
	}{
		{"digest mismatch", map[string]any{"chart": "shop", "repoURL": r.srv.URL, "version": "0.5.0"}, testOptions(t),
			[]string{"chart shop 0.5.0", "does not match the index's digest " + strings.Repeat("ab", 32)}},
		{"archive over the cap", map[string]any{"chart": "shop", "repoURL": r.srv.URL, "version": "0.1.0"},
			small(func(o *Options) { o.MaxArchiveBytes = 1024 }), []string{"shop-0.1.0.tgz", "over the size cap of 1024"}},
		{"archive over the cap without Content-Length", map[string]any{"chart": "shop", "repoURL": chunked.srv.URL, "version": "0.1.0"},
			small(func(o *Options) { o.MaxArchiveBytes = 1024 }), []string{"shop-0.1.0.tgz", "over the size cap of 1024"}},
		{"index over the cap", map[string]any{"chart": "shop", "repoURL": r.srv.URL},
			small(func(o *Options) { o.MaxIndexBytes = 100 }), []string{"index.yaml", "over the size cap of 100"}},
		{"chart over the cap once unpacked", map[string]any{"chart": "shop", "repoURL": r.srv.URL, "version": "0.1.0"},
			small(func(o *Options) { o.MaxChartBytes = 2000 }), []string{"chart archive", "over the size cap of 2000"}},
		{"unknown chart", map[string]any{"chart": "cart", "repoURL": r.srv.URL}, testOptions(t),
			[]string{"chart cart", "no chart name found"}},
		{"unknown version", map[string]any{"chart": "shop", "repoURL": r.srv.URL, "version": "9.x"}, testOptions(t),
			[]string{`version "9.x"`, "no chart version found"}},
		{"no repository there, credentials redacted", map[string]any{"chart": "shop", "repoURL": secretURL}, testOptions(t),
			[]string{"404 Not Found", r.srv.URL + "/nowhere"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Render(t.Context(), os.DirFS(t.TempDir()), Request{ReleaseName: "shop", Properties: tt.props}, tt.opts)
			assertError(t, objs, err, tt.wants...)
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q leaks a credential", err)
			}
		})
	}
}

func TestResolveChartURL(t *testing.T) {
	tests := []struct{ repo, ref, want string }{
		{"https://h.example/stable", "charts/x-1.0.0.tgz", "https://h.example/stable/charts/x-1.0.0.tgz"},
		{"https://h.example/stable/", "x-1.0.0.tgz", "https://h.example/stable/x-1.0.0.tgz"},
		{"https://h.example/stable", "/dl/x-1.0.0.tgz", "https://h.example/dl/x-1.0.0.tgz"},
		{"https://h.example/stable", "https://cdn.example/x-1.0.0.tgz", "https://cdn.example/x-1.0.0.tgz"},
		{"https://h.example", "x-1.0.0.tgz", "https://h.example/x-1.0.0.tgz"},
		{"https://h.example/stable", "ftp://cdn.example/x.tgz", "error"},
	}
	for _, tt := range tests {
		t.Run(tt.repo+" "+tt.ref, func(t *testing.T) {
			got, err := resolveChartURL(tt.repo, tt.ref)
			if err != nil {
				got = "error"
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("resolveChartURL (-want +got):\n%s", diff)
			}
		})
	}
}
