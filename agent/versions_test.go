package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/version"
)

// fakeVersions is a versionReader whose answer a test sets, counting
// reads per cluster.
type fakeVersions struct {
	mu    sync.Mutex
	info  map[string]version.Info
	err   error
	reads map[string]int
}

func newFakeVersions() *fakeVersions {
	return &fakeVersions{info: map[string]version.Info{}, reads: map[string]int{}}
}

func (f *fakeVersions) set(cluster string, info version.Info, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.info[cluster], f.err = info, err
}

func (f *fakeVersions) read(ctx context.Context, cluster string) (version.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads[cluster]++
	if f.err != nil {
		return version.Info{}, f.err
	}
	return f.info[cluster], nil
}

func (f *fakeVersions) count(cluster string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads[cluster]
}

// testClock is a clock a test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestClusterVersionsCache: a cluster is read on first use, cached for
// versionRefresh, read again after it; a failed read keeps what was read
// before, is tried again after versionRetry and is logged once until a
// read succeeds; without anything read, the error says why and renders
// use the default.
func TestClusterVersionsCache(t *testing.T) {
	var logs bytes.Buffer
	clock := &testClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := newClusterVersions(slog.New(slog.NewTextHandler(&logs, nil)), clock.now)
	f := newFakeVersions()
	ctx := t.Context()

	if v, err := c.get(ctx, "east"); v != (kubeVersion{}) || err != nil {
		t.Fatalf("without a reader: %+v, %v; want nothing, no error", v, err)
	}
	c.use(f.read)

	f.set("east", version.Info{}, errors.New("connection refused"))
	v, err := c.get(ctx, "east")
	if v.git != "" || err == nil || !strings.Contains(err.Error(), "the version of cluster east could not be read: connection refused") {
		t.Fatalf("unreachable: %+v, %v", v, err)
	}
	clock.add(versionRetry / 2)
	if _, err := c.get(ctx, "east"); err == nil || f.count("east") != 1 {
		t.Fatalf("within the retry interval: error %v, %d reads; want the error again and 1 read", err, f.count("east"))
	}
	clock.add(versionRetry)
	if _, err := c.get(ctx, "east"); err == nil || f.count("east") != 2 {
		t.Fatalf("after the retry interval: error %v, %d reads; want 2", err, f.count("east"))
	}
	if n := strings.Count(logs.String(), "cluster version unreadable"); n != 1 {
		t.Errorf("the failure was logged %d times, want once:\n%s", n, logs.String())
	}

	f.set("east", version.Info{Major: "1", Minor: "29", GitVersion: "v1.29.4-eks-1234", Platform: "linux/arm64"}, nil)
	clock.add(versionRetry)
	v, err = c.get(ctx, "east")
	if want := (kubeVersion{git: "v1.29.4-eks-1234", platform: "linux/arm64"}); v != want || err != nil {
		t.Fatalf("after recovery: %+v, %v; want %+v", v, err, want)
	}
	f.set("east", version.Info{Major: "1", Minor: "30", GitVersion: "v1.30.1"}, nil)
	clock.add(versionRefresh - time.Second)
	if v, _ := c.get(ctx, "east"); v.git != "v1.29.4-eks-1234" {
		t.Fatalf("within the refresh interval: %+v, want the cached v1.29.4-eks-1234", v)
	}
	clock.add(time.Second)
	if v, _ := c.get(ctx, "east"); v.git != "v1.30.1" {
		t.Fatalf("after the refresh interval: %+v, want v1.30.1", v)
	}

	f.set("east", version.Info{}, errors.New("timeout"))
	clock.add(versionRefresh)
	if v, err := c.get(ctx, "east"); v.git != "v1.30.1" || err != nil {
		t.Fatalf("a failure after a read: %+v, %v; want the last version read and no error", v, err)
	}
	if n := strings.Count(logs.String(), "cluster version unreadable"); n != 2 {
		t.Errorf("a new failure after a success was logged %d times in all, want 2", n)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	f.set("west", version.Info{Major: "1", Minor: "31", GitVersion: "v1.31.0"}, errors.New("context canceled"))
	if _, err := c.get(cancelled, "west"); err != nil {
		t.Errorf("a read the caller cancelled counts as a failure: %v", err)
	}
	f.set("west", version.Info{Major: "1", Minor: "31", GitVersion: "v1.31.0"}, nil)
	if v, _ := c.get(ctx, "west"); v.git != "v1.31.0" {
		t.Errorf("after a cancelled read, the next one is not cached as failed: %+v", v)
	}
}

// TestClusterVersionsOneReadAtATime: workers rendering for one cluster
// at once wait for one read.
func TestClusterVersionsOneReadAtATime(t *testing.T) {
	c := newClusterVersions(slog.New(slog.DiscardHandler), time.Now)
	f := newFakeVersions()
	f.set("east", version.Info{Major: "1", Minor: "30", GitVersion: "v1.30.2"}, nil)
	c.use(f.read)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { _, _ = c.get(t.Context(), "east") })
	}
	wg.Wait()
	if n := f.count("east"); n != 1 {
		t.Errorf("%d reads, want 1", n)
	}
}

func TestVersionOf(t *testing.T) {
	for _, tt := range []struct {
		name string
		info version.Info
		want kubeVersion
		err  bool
	}{
		{"release", version.Info{Major: "1", Minor: "30", GitVersion: "v1.30.2", Platform: "linux/amd64"}, kubeVersion{"v1.30.2", "linux/amd64"}, false},
		{"provider suffix", version.Info{Major: "1", Minor: "28+", GitVersion: "v1.28.3-eks-4f4795d"}, kubeVersion{"v1.28.3-eks-4f4795d", ""}, false},
		{"build metadata", version.Info{Major: "1", Minor: "31", GitVersion: "v1.31.1+k3s1"}, kubeVersion{"v1.31.1+k3s1", ""}, false},
		// Binaries built without version ldflags (the local control
		// plane's) report a placeholder gitVersion and the binary's minor.
		{"unversioned build", version.Info{Major: "1", Minor: "36", GitVersion: "v0.0.0-master+$Format:%H$"}, kubeVersion{"v1.36.0", ""}, false},
		{"minor with plus", version.Info{Major: "1", Minor: "27+", GitVersion: "unknown"}, kubeVersion{"v1.27.0", ""}, false},
		{"nothing", version.Info{GitVersion: "v0.0.0-master+$Format:%H$"}, kubeVersion{}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := versionOf(tt.info)
			if (err != nil) != tt.err {
				t.Fatalf("error = %v, want error %v", err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(kubeVersion{})); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestBoundWarnings(t *testing.T) {
	var many []string
	for i := range 30 {
		many = append(many, strings.Repeat("w", i+1), strings.Repeat("w", i+1))
	}
	got := boundWarnings(many)
	if len(got) != maxWarnings || got[0] != "w" || got[maxWarnings-2] != strings.Repeat("w", maxWarnings-1) || got[maxWarnings-1] != "… and 11 more warnings" {
		t.Errorf("boundWarnings of 30 warnings twice each = %q", got)
	}
	if got := boundWarnings([]string{"a", "b", "a"}); !cmp.Equal(got, []string{"a", "b"}) {
		t.Errorf("boundWarnings(a, b, a) = %q", got)
	}
	if got := boundWarnings(nil); got == nil || len(got) != 0 {
		t.Errorf("boundWarnings(nil) = %#v, want empty, not nil", got)
	}
}
