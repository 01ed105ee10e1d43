package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/carina-gitops/carina/source"
)

// TestFloodOverManyRepositoriesLeavesWatchedPushesTheirPlace: the queue
// as the agent builds it, knowing its sources' repositories (300 of
// them), behind real handlers, with deliveries held so that nothing
// leaves the queue. Signed pushes (generic receiver) and pull requests
// (GitHub receiver) of 500 distinct repositories no source watches take
// no key: each is answered 202 "unwatched". Pull requests of the watched
// repositories then fill what Size allows; still, a push of every
// watched repository is accepted, and once deliveries go on the push of
// the watched repository under test wakes it.
func TestFloodOverManyRepositoriesLeavesWatchedPushesTheirPlace(t *testing.T) {
	const watchedURL = "https://git.example/team/app.git"
	watched := []string{source.RepoKey(watchedURL)}
	for i := range 299 {
		watched = append(watched, source.RepoKey(fmt.Sprintf("https://git.example/team/w%03d.git", i)))
	}
	release := make(chan struct{})
	var mu sync.Mutex
	var woken []string
	deliver := func(ctx context.Context, ev Event) {
		select {
		case <-release:
		case <-ctx.Done():
			return
		}
		mu.Lock()
		woken = append(woken, ev.RepoKeys()...)
		mu.Unlock()
	}
	q := NewQueue(deliver, QueueOptions{Size: 256, Workers: 4, Watched: watched})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = q.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	generic, err := NewHandler(q, Options{Provider: Generic, Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	github, err := NewHandler(q, Options{Provider: GitHub, Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	push := func(repo string) Result {
		body := fmt.Appendf(nil, `{"repository": %q, "ref": "refs/heads/main"}`, repo)
		h := http.Header{}
		signHeaders(h, Generic, testSecret, body)
		return serveOne(t, generic, h, body)
	}
	pr := func(repo string, n int) Result {
		body := fmt.Appendf(nil, `{"action": "synchronize", "number": %d, "pull_request": {"merged": false,
 "head": {"ref": "f%d", "sha": "%040d", "repo": {"clone_url": %q}}, "base": {"ref": "main", "sha": "%040d", "repo": {"clone_url": %q}}},
 "repository": {"clone_url": %q}}`, n, n, n, repo, n, repo, repo)
		h := http.Header{"X-Github-Event": {"pull_request"}}
		signHeaders(h, GitHub, testSecret, body)
		return serveOne(t, github, h, body)
	}

	for i := range 500 {
		repo := fmt.Sprintf("https://flood.example/x/r%03d.git", i)
		for _, res := range []Result{push(repo), pr(repo, i+1)} {
			if res.Status != http.StatusAccepted || res.Outcome != OutcomeUnwatched {
				t.Fatalf("webhook of unwatched %s answered %d %s, want 202 unwatched", repo, res.Status, res.Outcome)
			}
		}
	}
	if q.Len() != 0 {
		t.Fatalf("the flood of unwatched repositories took %d keys", q.Len())
	}

	// Pull requests of the watched repositories: 40 each for the first 20
	// (PerRepo 32 each; Size 256 in all).
	full := 0
	for i := range 20 {
		for n := 1; n <= 40; n++ {
			if res := pr(fmt.Sprintf("https://git.example/team/w%03d.git", i), n); res.Outcome == OutcomeQueueFull {
				full++
			}
		}
	}
	if q.Len() != 256 || full != 20*40-256 {
		t.Fatalf("after the pull requests: %d keys pending, %d refused; want 256 and %d", q.Len(), full, 20*40-256)
	}
	// An event naming a watched repository among a hundred others is cut
	// down to it: it takes one push key, not one per combination.
	crafted := Event{Provider: Generic, Kind: KindPush, Ref: "refs/heads/main", Repos: []string{"https://git.example/team/w298.git"}}
	for i := range 100 {
		crafted.Repos = append(crafted.Repos, fmt.Sprintf("https://flood.example/y/r%03d.git", i))
	}
	for range 3 {
		if _, err := q.Enqueue(crafted); err != nil {
			t.Fatalf("crafted push: %v", err)
		}
	}
	if q.Len() != 257 {
		t.Fatalf("after the crafted pushes: %d keys pending, want 257 (one push key)", q.Len())
	}
	for i := range 299 {
		if res := push(fmt.Sprintf("https://git.example/team/w%03d.git", i)); res.Status != http.StatusAccepted {
			t.Fatalf("push of watched w%03d answered %d %s with the pull requests filling Size", i, res.Status, res.Outcome)
		}
	}
	if res := push(watchedURL); res.Status != http.StatusAccepted || res.Outcome != OutcomeAccepted {
		t.Fatalf("the watched repository's push answered %d %s, want 202 accepted", res.Status, res.Outcome)
	}
	if q.Len() != 256+300 {
		t.Errorf("%d keys pending, want 256 pull requests and 300 pushes", q.Len())
	}
	close(release)
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(woken, source.RepoKey(watchedURL))
	})
	mu.Lock()
	for _, k := range woken {
		if !slices.Contains(watched, k) {
			t.Errorf("a delivery woke %s, which no source watches", k)
		}
	}
	mu.Unlock()
}

// serveOne runs one request through h and returns its Result.
func serveOne(t *testing.T, h *Handler, hdr http.Header, body []byte) Result {
	t.Helper()
	var got Result
	h.opts.OnResult = func(r Result) { got = r }
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = hdr
	h.ServeHTTP(httptest.NewRecorder(), req)
	return got
}

func TestQueueUnwatchedIsRefusedWithoutAKey(t *testing.T) {
	q := NewQueue(func(context.Context, Event) {}, QueueOptions{Size: 4, Watched: []string{source.RepoKey("https://git.example/o/a.git")}})
	_, err := q.Enqueue(pushEvent("https://git.example/o/b.git", "b1"))
	if !errors.Is(err, ErrUnwatched) || q.Len() != 0 {
		t.Errorf("push of an unwatched repository: %v, %d keys; want ErrUnwatched and none", err, q.Len())
	}
	// The ssh and web forms of a watched repository are the same key.
	for _, u := range []string{"git@git.example:o/a.git", "https://git.example/o/a"} {
		if _, err := q.Enqueue(pushEvent(u, "a1")); err != nil {
			t.Errorf("push of %s: %v", u, err)
		}
	}
	if q.Len() != 1 {
		t.Errorf("%d keys, want the watched repository's push key alone", q.Len())
	}
}
