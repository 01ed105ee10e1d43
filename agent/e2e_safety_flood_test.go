package agent

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/source/webhook"
)

// TestWebhookFloodOfOneSourceSparesAnother: 5,000 signed GitHub pull
// request webhooks for source A, each pull request its own entry in the
// webhook queue, fill what the queue holds for A, and A's further
// webhooks are answered 503 (queue full). Source B is not delayed: B's
// push webhooks during the flood, each sent just after one of A's was
// refused, are all accepted, and B's commit is applied within its normal
// time, measured in the same test without the flood.
func TestWebhookFloodOfOneSourceSparesAnother(t *testing.T) {
	f := newFloodRig(t, "flood")
	r, cs, ns, appA, repoA, client := f.r, f.cs, f.ns, f.appA, f.repoA, f.client
	pushB, commitB, baseline := f.pushB, f.commitB, f.baseline

	// The flood: 5,000 pull request webhooks of A, as fast as 32 senders
	// get answers. refusedA signals each of A's webhooks refused because
	// the queue is full.
	const flood = 5000
	var sent, accepted, full, other atomic.Int32
	refusedA := make(chan struct{}, 1)
	next := atomic.Int32{}
	floodStart := time.Now()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); wg.Wait() }) // no sender outlives the test
	for range 32 {
		wg.Go(func() {
			for {
				n := int(next.Add(1))
				select {
				case <-stop:
					return
				default:
				}
				if n > flood {
					return
				}
				code := postHook(client, r.addr+"/hooks/github", githubPRBody(repoA.url(), n), nil)
				sent.Add(1)
				switch code {
				case http.StatusAccepted:
					accepted.Add(1)
				case http.StatusServiceUnavailable:
					full.Add(1)
					select {
					case refusedA <- struct{}{}:
					default:
					}
				default:
					other.Add(1)
				}
			}
		})
	}
	flooding := make(chan struct{})
	go func() { wg.Wait(); close(flooding) }()
	whenFull := func() bool {
		select {
		case <-refusedA:
			return true
		case <-flooding:
			return false
		case <-time.After(30 * time.Second):
			t.Fatal("no webhook of A was refused within 30 s: the queue never filled")
		}
		return false
	}
	drain := func() {
		select {
		case <-refusedA:
		default:
		}
	}
	// B's commit is pushed just after one of A's webhooks was refused
	// for a full queue; so are more pushes of B, each once B's last one
	// has left the queue (its cooldown is a second), until the flood
	// ends. None may be refused.
	whenFull()
	during := commitB("v5")
	inFlight := sent.Load()
	bPosted, bRefused := 1, 0
	for {
		time.Sleep(1200 * time.Millisecond)
		drain()
		if !whenFull() {
			break
		}
		bPosted++
		if code := pushB(); code != http.StatusAccepted {
			bRefused++
		}
	}
	t.Logf("the flood of %d webhooks lasted %s", flood, time.Since(floodStart).Round(time.Millisecond))
	t.Logf("B's push webhooks during the flood: %d posted, %d refused", bPosted, bRefused)
	if bRefused > 0 {
		t.Errorf("%d of B's %d push webhooks during A's flood were refused: A's flood took B's place in the queue", bRefused, bPosted)
	}
	t.Logf("B's commit to applied during the flood: %s (after %d of A's %d webhooks had been answered)", during, inFlight, flood)
	t.Logf("A's webhooks: %d accepted, %d refused with 503 (queue full), %d other", accepted.Load(), full.Load(), other.Load())
	if other.Load() != 0 {
		t.Errorf("%d of A's webhooks were answered neither 202 nor 503", other.Load())
	}
	if inFlight >= flood {
		t.Errorf("the flood was over before B's commit was applied: the measure is not during the flood")
	}
	if bound := max(3*baseline, baseline+5*time.Second); during > bound {
		t.Errorf("B's commit took %s to apply during the flood, over the bound %s (without the flood: %s)", during, bound, baseline)
	}
	if got := configMapData(t, cs, ns, appA); got != "v1" {
		t.Errorf("A's app holds %q after the flood, want v1", got)
	}
}

// githubPRBody is a GitHub pull_request "synchronize" payload of pull
// request n of repo.
func githubPRBody(repo string, n int) string {
	sha := sha1.Sum([]byte(fmt.Sprint(n)))
	return fmt.Sprintf(`{"action": "synchronize", "number": %d, "pull_request": {"merged": false,
 "head": {"ref": "feature-%d", "sha": %q, "repo": {"clone_url": %q}},
 "base": {"ref": "main", "sha": %q, "repo": {"clone_url": %q}}},
 "repository": {"clone_url": %q}}`, n, n, hex.EncodeToString(sha[:]), repo, hex.EncodeToString(sha[:]), repo, repo)
}

// floodRig is an agent with two sources, a and b (one app each, applied),
// a generic and a GitHub webhook receiver, and B's commit-to-applied time
// without a flood (the most of three commits).
type floodRig struct {
	t              *testing.T
	r              *running
	cs             kubernetes.Interface
	ns, appA, appB string
	repoA, repoB   *gitRepo
	client         *http.Client
	baseline       time.Duration
}

func newFloodRig(t *testing.T, prefix string) *floodRig {
	_, cs := needCluster(t)
	f := &floodRig{t: t, cs: cs, ns: testNS(prefix), repoA: newGitRepo(t), repoB: newGitRepo(t)}
	createNamespaces(t, cs, f.ns)
	f.appA, f.appB = f.ns+"-a", f.ns+"-b"
	f.repoA.commit("a", map[string]string{f.appA + "/Appfile": simpleAppfile(f.appA, f.ns, "v1")})
	f.repoB.commit("b", map[string]string{f.appB + "/Appfile": simpleAppfile(f.appB, f.ns, "v1")})
	sources := fmt.Sprintf("apps: [{name: a, url: %q, interval: 1h}, {name: b, url: %q, interval: 1h}]", f.repoA.url(), f.repoB.url())
	_, cfg := agentConfigSources(t, sources, "", testCluster.Kubeconfig(), "127.0.0.1:0", "")
	cfg.Webhooks = append(cfg.Webhooks, config.Webhook{Provider: "github", Path: "/hooks/github", SecretFile: cfg.Webhooks[0].SecretFile})
	f.r = startAgent(t, cfg)
	for _, a := range []string{f.appA, f.appB} {
		eventually(t, 60*time.Second, a+" applied", func() (bool, string) {
			got := configMapData(t, cs, f.ns, a)
			return got == "v1", got
		})
	}
	f.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for _, v := range []string{"v2", "v3", "v4"} {
		f.baseline = max(f.baseline, f.commitB(v))
	}
	t.Logf("B's commit to applied without the flood: at most %s", f.baseline)
	return f
}

// pushB posts a signed push webhook of B's repository.
func (f *floodRig) pushB() int {
	body := fmt.Sprintf(`{"repository": %q, "ref": "refs/heads/main"}`, f.repoB.url())
	return postHook(f.client, f.r.addr+"/hooks/generic", body, map[string]string{"X-Signature-256": "sha256=" + webhook.Sign(f.r.secret, []byte(body))})
}

// commitB commits greeting to B, posts its webhook and returns how long
// until it was applied.
func (f *floodRig) commitB(greeting string) time.Duration {
	f.repoB.commit(greeting, map[string]string{f.appB + "/Appfile": simpleAppfile(f.appB, f.ns, greeting)})
	start := time.Now()
	if code := f.pushB(); code != http.StatusAccepted {
		f.t.Errorf("B's push webhook answered %d, want 202", code)
	}
	eventually(f.t, 60*time.Second, "B's commit "+greeting+" applied", func() (bool, string) {
		got := configMapData(f.t, f.cs, f.ns, f.appB)
		return got == greeting, got
	})
	return time.Since(start)
}

// postHook posts a webhook body and returns the answer's status code. A
// body without headers is signed as GitHub signs it, with the agent's
// test secret.
func postHook(client *http.Client, url, body string, headers map[string]string) int {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0
	}
	if headers == nil {
		headers = map[string]string{"X-GitHub-Event": "pull_request",
			"X-Hub-Signature-256": "sha256=" + webhook.Sign([]byte("hook-secret"), []byte(body))}
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0 // counted by the caller
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestWebhookFloodOfManyRepositoriesSparesWatchedSources: signed webhooks
// naming 600 repositories that no source watches (pushes through the
// generic receiver, whose secret every sender shares, and pull requests
// through the GitHub receiver), as fast as 32 senders get answers, take
// no place in the webhook queue: each is answered 202 and counted as
// result="unwatched". Meanwhile every push webhook of the watched source
// B is accepted, and B's commit is applied within its time without the
// flood.
func TestWebhookFloodOfManyRepositoriesSparesWatchedSources(t *testing.T) {
	f := newFloodRig(t, "floodmany")
	r, cs, ns, appA, client := f.r, f.cs, f.ns, f.appA, f.client
	pushB, commitB, baseline := f.pushB, f.commitB, f.baseline

	const repos, flood = 600, 6000
	var sent, accepted, other atomic.Int32
	next := atomic.Int32{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); wg.Wait() })
	for range 32 {
		wg.Go(func() {
			for {
				n := int(next.Add(1))
				select {
				case <-stop:
					return
				default:
				}
				if n > flood {
					return
				}
				repo := fmt.Sprintf("https://git.example.com/flood/r%03d.git", n%repos)
				var code int
				if n%2 == 0 {
					body := fmt.Sprintf(`{"repository": %q, "ref": "refs/heads/main"}`, repo)
					code = postHook(client, r.addr+"/hooks/generic", body, map[string]string{"X-Signature-256": "sha256=" + webhook.Sign(r.secret, []byte(body))})
				} else {
					code = postHook(client, r.addr+"/hooks/github", githubPRBody(repo, n), nil)
				}
				sent.Add(1)
				if code == http.StatusAccepted {
					accepted.Add(1)
				} else {
					other.Add(1)
				}
			}
		})
	}
	flooding := make(chan struct{})
	go func() { wg.Wait(); close(flooding) }()
	for sent.Load() < flood/10 {
		time.Sleep(10 * time.Millisecond)
	}
	during := commitB("v5")
	inFlight := sent.Load()
	bPosted, bRefused := 1, 0
	for done := false; !done; {
		select {
		case <-flooding:
			done = true
		case <-time.After(1200 * time.Millisecond):
			bPosted++
			if code := pushB(); code != http.StatusAccepted {
				bRefused++
			}
		}
	}
	t.Logf("the flood: %d webhooks over %d repositories, %d answered 202, %d otherwise", sent.Load(), repos, accepted.Load(), other.Load())
	t.Logf("B's push webhooks during the flood: %d posted, %d refused; B's commit applied %s after its push (after %d of the flood's webhooks)", bPosted, bRefused, during, inFlight)
	if bRefused > 0 {
		t.Errorf("%d of B's %d push webhooks during the flood were refused: repositories no source watches took B's place in the queue", bRefused, bPosted)
	}
	if other.Load() != 0 {
		t.Errorf("%d of the flood's webhooks were answered other than 202", other.Load())
	}
	if inFlight >= flood {
		t.Errorf("the flood was over before B's commit was applied: the measure is not during the flood")
	}
	if bound := max(3*baseline, baseline+5*time.Second); during > bound {
		t.Errorf("B's commit took %s to apply during the flood, over the bound %s (without the flood: %s)", during, bound, baseline)
	}
	m := r.metrics(t)
	var unwatched int
	for _, line := range strings.Split(m, "\n") {
		if strings.HasPrefix(line, "carina_webhook_requests_total{") && strings.Contains(line, `result="unwatched"`) {
			var v float64
			fmt.Sscanf(line[strings.LastIndex(line, " ")+1:], "%g", &v)
			unwatched += int(v)
		}
	}
	if unwatched != flood {
		t.Errorf("carina_webhook_requests_total{result=\"unwatched\"} sums to %d, want the %d webhooks of the flood", unwatched, flood)
	}
	if got := configMapData(t, cs, ns, appA); got != "v1" {
		t.Errorf("A's app holds %q after the flood, want v1", got)
	}
}
