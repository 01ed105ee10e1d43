package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carina-gitops/carina/e2e/gitserver"
	"github.com/carina-gitops/carina/source"
)

// TestFloodOfWebhooksCostsAtMostTwoFetches sends 1,000 signed GitHub push
// webhooks for one repository as fast as 32 senders can, through the real
// handler and queue (default options), to a real poller of a real Git
// server.
func TestFloodOfWebhooksCostsAtMostTwoFetches(t *testing.T) {
	repos := gitserver.NewRepos(t)
	w := repos.Create(t, "app")
	w.Write("app.yaml", "replicas: 1\n")
	w.Commit("first")
	w.Push("main")
	git := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{})

	fetcher, err := source.NewFetcher(source.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	updates := make(chan source.Update, 16)
	poller, err := source.NewPoller(fetcher, source.Ref{URL: git.RepoURL("app"), Branch: "main"},
		source.PollerOptions{Interval: time.Hour, OnUpdate: func(u source.Update) { updates <- u }})
	if err != nil {
		t.Fatal(err)
	}
	var pollers source.Pollers
	pollers.Add(poller)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() { _ = poller.Run(ctx) })
	if u := <-updates; u.Kind != source.UpdateInitial {
		t.Fatalf("first update = %s (%v)", u.Kind, u.Err)
	}

	var deliveries atomic.Int64
	q := NewQueue(func(_ context.Context, ev Event) {
		deliveries.Add(1)
		pollers.Wake(ev.Repos...)
	}, DefaultQueueOptions())
	wg.Go(func() { _ = q.Run(ctx) })
	h, err := NewHandler(q, Options{Provider: GitHub, Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	w.Write("app.yaml", "replicas: 5\n")
	want := w.Commit("scale")
	w.Push("main")
	body, err := json.Marshal(map[string]any{
		"ref": "refs/heads/main", "before": "0000000000000000000000000000000000000000", "after": want,
		"repository": map[string]any{"full_name": "local/app", "clone_url": git.RepoURL("app"),
			"html_url": git.URL + "/app", "ssh_url": "git@127.0.0.1:app.git"},
	})
	if err != nil {
		t.Fatal(err)
	}
	polls, fetches, gitBefore := poller.Polls(), fetcher.Stats().Downloads, git.Stats()

	// The requests go straight to the handler, so that even a machine
	// slowed by the race detector sends all of them within the 1s
	// cooldown, which is the scenario: a thousand webhooks in a second.
	var sent atomic.Int64
	var statusMu sync.Mutex
	statuses := map[int]int{}
	sig := "sha256=" + Sign(testSecret, body)
	start := time.Now()
	var senders sync.WaitGroup
	for range 32 {
		senders.Go(func() {
			for sent.Add(1) <= 1000 {
				req := httptest.NewRequest(http.MethodPost, "/hooks/github", bytes.NewReader(body))
				req.Header.Set("X-GitHub-Event", "push")
				req.Header.Set("X-Hub-Signature-256", sig)
				rw := httptest.NewRecorder()
				h.ServeHTTP(rw, req)
				statusMu.Lock()
				statuses[rw.Code]++
				statusMu.Unlock()
			}
		})
	}
	senders.Wait()
	elapsed := time.Since(start)
	// The scenario is a thousand webhooks within one cooldown (1s): at
	// most two deliveries and two polls. A machine too loaded to send
	// them within a second gets one more delivery per extra second, and
	// the test holds it to that.
	cooldown := DefaultQueueOptions().Cooldown
	bound := int64(1 + math.Ceil(elapsed.Seconds()/cooldown.Seconds()))
	t.Logf("1000 webhooks sent in %s: at most %d deliveries and fetches allowed", elapsed, bound)
	if statuses[http.StatusAccepted] != 1000 {
		t.Errorf("statuses = %v, want 1000 × 202", statuses)
	}

	select {
	case u := <-updates:
		if u.Snapshot == nil || u.Snapshot.Commit != want {
			t.Fatalf("update after the flood: %s %v", u.Kind, u.Err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the flood did not lead to a fetch")
	}
	waitFor(t, func() bool { return q.Len() == 0 })
	time.Sleep(300 * time.Millisecond) // room for a coalesced second poll to finish

	gotPolls := poller.Polls() - polls
	gotDownloads := fetcher.Stats().Downloads - fetches
	gitAfter := git.Stats()
	t.Logf("deliveries %d, polls %d, downloads %d, server info/refs %d upload-pack %d",
		deliveries.Load(), gotPolls, gotDownloads, gitAfter.InfoRefs-gitBefore.InfoRefs, gitAfter.UploadPack-gitBefore.UploadPack)
	if gotPolls < 1 || gotPolls > bound {
		t.Errorf("1000 webhooks caused %d fetches (polls), want 1 to %d", gotPolls, bound)
	}
	if gotDownloads > 2 || gitAfter.UploadPack-gitBefore.UploadPack > 2 {
		t.Errorf("1000 webhooks caused %d pack downloads (%d upload-pack requests), want at most 2 (one new commit)",
			gotDownloads, gitAfter.UploadPack-gitBefore.UploadPack)
	}
	if d := deliveries.Load(); d > bound {
		t.Errorf("the queue delivered %d times for one repository, want at most %d", d, bound)
	}
}
