package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/e2e/cluster"
)

// startAgentWith is startAgent with the agent's Options changed by
// change (a Renderer or Targets wrapped, say) before New, and its log
// kept in the returned buffer as well as in the test log.
func startAgentWith(t testing.TB, cfg *config.Config, change func(*Options)) (*running, *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	clusters, err := BuildClusters(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts := Options{Config: cfg, Logger: log, Targets: clusters.Targets,
		Events: &KubeEvents{Clients: clusters.Clients, Component: "carina-agent", Host: "test"}}
	if change != nil {
		change(&opts)
	}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &running{a: a, addr: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1),
		secret: []byte("hook-secret"), repo: cfg.Sources.Apps[0].URL}
	r.client = &api.Client{BaseURL: r.addr, Token: "api-token"}
	go func() { r.done <- a.Run(ctx, RunOptions{Clients: clusters.Clients, REST: clusters.REST, Listener: ln}) }()
	t.Cleanup(func() { r.stop(t) })
	return r, logs
}

// hookRepo posts a signed generic webhook for another repository than
// the agent's first source.
func (r *running) hookRepo(t testing.TB, repoURL string) {
	t.Helper()
	saved := r.repo
	r.repo = repoURL
	defer func() { r.repo = saved }()
	r.hook(t)
}

// probe GETs a path of a running agent and returns the status code;
// 0 when the request itself failed.
func probe(base, path string) int {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(base + path)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// prober GETs paths of an agent every interval until stopped and keeps
// the answers that were not 200.
type prober struct {
	stop chan struct{}
	done chan []string
}

func startProber(base string, interval time.Duration, paths ...string) *prober {
	p := &prober{stop: make(chan struct{}), done: make(chan []string, 1)}
	go func() {
		var bad []string
		n := 0
		for {
			for _, path := range paths {
				if code := probe(base, path); code != http.StatusOK {
					bad = append(bad, fmt.Sprintf("%s %s: %d", time.Now().Format("15:04:05.000"), path, code))
				}
				n++
			}
			select {
			case <-p.stop:
				p.done <- append(bad, fmt.Sprintf("(%d probes)", n))
				return
			case <-time.After(interval):
			}
		}
	}()
	return p
}

// finish stops the prober and returns the failed probes and, last, the
// number of probes.
func (p *prober) finish() (bad []string, count string) {
	close(p.stop)
	out := <-p.done
	return out[:len(out)-1], out[len(out)-1]
}

// buildCarina builds the carina command into the test's temporary
// directory (the build cache makes a second build cheap).
func buildCarina(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "carina")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/carina").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// setLeaderIdentity writes the replica's identity into the
// leaderElection section of a configuration file agentConfigFile wrote.
func setLeaderIdentity(t *testing.T, path, identity string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if !strings.Contains(text, "leaderElection: {namespace:") {
		t.Fatalf("%s has no leaderElection namespace to add the identity to", path)
	}
	text = strings.Replace(text, "leaderElection: {", "leaderElection: {identity: "+identity+", ", 1)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err := config.Load(path); err != nil || cfg.LeaderElection.Identity != identity {
		t.Fatalf("config with identity %s: %v", identity, err)
	}
}

// percentile returns the p-th percentile (0 < p <= 100) of ds, by the
// nearest-rank method.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(float64(len(s))*p/100+0.999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// writeRecord is what the audit log holds of one object's writes by the
// agents of a test.
type writeRecord struct {
	creates     []string // users whose write created it (201)
	interrupted []string // users whose write has no success answer: cut off by a kill (the server may have done it all the same)
}

// objectWrites reads the audit log's non-dry-run writes of resource in
// namespace ns by users, per object name.
func objectWrites(events []auditv1.Event, ns, resource string, users ...string) map[string]*writeRecord {
	out := map[string]*writeRecord{}
	for _, user := range users {
		for _, ev := range cluster.Select(events, cluster.Filter{User: user, Writes: true, Namespace: ns, Resource: resource}) {
			if isDryRun(ev.RequestURI) {
				continue
			}
			w := out[ev.ObjectRef.Name]
			if w == nil {
				w = &writeRecord{}
				out[ev.ObjectRef.Name] = w
			}
			switch {
			case ev.ResponseStatus == nil || ev.ResponseStatus.Code >= 300:
				code := int32(0)
				if ev.ResponseStatus != nil {
					code = ev.ResponseStatus.Code
				}
				w.interrupted = append(w.interrupted, fmt.Sprintf("%s (%d)", user, code))
			case ev.ResponseStatus.Code == 201:
				w.creates = append(w.creates, user)
			}
		}
	}
	return out
}

// checkCreatedOnce fails the test for an object of names created more
// than once, or not created and not the object of a write the kill cut
// off; at most maxCut objects may be the latter (the writes in flight).
func checkCreatedOnce(t *testing.T, writes map[string]*writeRecord, names []string, killed string, maxCut int) {
	t.Helper()
	var cut []string
	for _, name := range names {
		w := writes[name]
		switch {
		case w == nil:
			t.Errorf("%s exists but the audit log has no write of it", name)
		case len(w.creates) > 1:
			t.Errorf("%s created %d times (by %v), want once", name, len(w.creates), w.creates)
		case len(w.creates) == 0 && !slices.ContainsFunc(w.interrupted, func(s string) bool { return strings.HasPrefix(s, killed+" ") }):
			t.Errorf("%s exists but no write created it, and no write of the killed agent was cut off (writes cut off: %v)", name, w.interrupted)
		case len(w.creates) == 0:
			cut = append(cut, fmt.Sprintf("%s by %v", name, w.interrupted))
		}
	}
	if len(cut) > maxCut {
		t.Errorf("%d objects were created by writes the kill cut off, more than the %d that may be in flight: %v", len(cut), maxCut, cut)
	}
	if len(cut) > 0 {
		t.Logf("created by writes the kill cut off (the server did them; the audit log has no success answer): %v", cut)
	}
}
