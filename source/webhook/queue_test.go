package webhook

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func pushEvent(repo, sha string) Event {
	return Event{Provider: GitHub, Kind: KindPush, Repos: []string{repo}, Ref: "refs/heads/main", SHA: sha}
}

func TestQueueCoalescesAFloodIntoTwoDeliveries(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	var mu sync.Mutex
	var got []string
	q := NewQueue(func(_ context.Context, e Event) {
		mu.Lock()
		first := len(got) == 0
		got = append(got, e.SHA)
		mu.Unlock()
		if first {
			close(started)
			<-release
		}
	}, QueueOptions{Size: 4, Workers: 4})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = q.Run(ctx) }()

	if _, err := q.Enqueue(pushEvent("https://git.example/o/r.git", "a000000")); err != nil {
		t.Fatal(err)
	}
	<-started
	// While the first delivery runs, a thousand more arrive, in any URL
	// form of the same repository.
	for i := range 1000 {
		url := []string{"https://git.example/o/r.git", "git@git.example:o/r.git", "https://git.example/O/R"}[i%3]
		coalesced, err := q.Enqueue(pushEvent(url, fmt.Sprintf("b%06d", i)))
		if err != nil || (i > 0 && !coalesced) {
			t.Fatalf("enqueue %d: coalesced %v err %v", i, coalesced, err)
		}
	}
	close(release)
	waitFor(t, func() bool { return q.Len() == 0 })
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"a000000", "b000999"}, got); diff != "" {
		t.Errorf("deliveries (-want +got):\n%s", diff)
	}
}

func TestQueueKeysPullRequestsApart(t *testing.T) {
	rec := &recorder{}
	q := NewQueue(rec.deliver, QueueOptions{Size: 8, Workers: 1})
	pr := func(n int, a Action) Event {
		return Event{Provider: GitHub, Kind: KindPullRequest, Repos: []string{"https://git.example/o/r.git"},
			Ref: fmt.Sprintf("refs/pull/%d/head", n), PullRequest: &PullRequest{Number: n, Action: a}}
	}
	for _, e := range []Event{pr(1, ActionOpened), pr(2, ActionOpened), pr(1, ActionClosed), pushEvent("https://git.example/o/r.git", "c0ffee1")} {
		if _, err := q.Enqueue(e); err != nil {
			t.Fatal(err)
		}
	}
	if q.Len() != 3 {
		t.Fatalf("Len = %d, want 3 keys (two pull requests and the repository)", q.Len())
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = q.Run(ctx) }()
	waitFor(t, func() bool { return len(rec.all()) == 3 })
	var got []string
	for _, e := range rec.all() {
		if e.PullRequest != nil {
			got = append(got, fmt.Sprintf("pr%d %s", e.PullRequest.Number, e.PullRequest.Action))
		} else {
			got = append(got, "push "+e.SHA)
		}
	}
	// One worker delivers in arrival order of the keys; pr1 keeps its
	// latest action.
	if diff := cmp.Diff([]string{"pr1 closed", "pr2 opened", "push c0ffee1"}, got); diff != "" {
		t.Errorf("deliveries (-want +got):\n%s", diff)
	}
}

func TestQueueFull(t *testing.T) {
	q := NewQueue(func(context.Context, Event) {}, QueueOptions{Size: 2})
	for i := range 2 {
		if _, err := q.Enqueue(pushEvent(fmt.Sprintf("https://git.example/o/r%d.git", i), "")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.Enqueue(pushEvent("https://git.example/o/r9.git", "")); !errors.Is(err, ErrQueueFull) {
		t.Errorf("third key: err = %v, want ErrQueueFull", err)
	}
	if c, err := q.Enqueue(pushEvent("https://git.example/o/r1.git", "")); err != nil || !c {
		t.Errorf("pending key: coalesced %v err %v, want coalesced", c, err)
	}
}

func TestQueueCooldownDeliversFirstAtOnceAndTheRestOnce(t *testing.T) {
	rec := &recorder{}
	q := NewQueue(rec.deliver, QueueOptions{Size: 4, Workers: 2, Cooldown: time.Second})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = q.Run(ctx) }()
	if _, err := q.Enqueue(pushEvent("https://git.example/o/r.git", "a000001")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(rec.all()) == 1 }) // the first goes out at once
	for i := range 100 {
		if _, err := q.Enqueue(pushEvent("https://git.example/o/r.git", fmt.Sprintf("b%06d", i))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return q.Len() == 0 })
	var got []string
	for _, e := range rec.all() {
		got = append(got, e.SHA)
	}
	if diff := cmp.Diff([]string{"a000001", "b000099"}, got); diff != "" {
		t.Errorf("deliveries (-want +got):\n%s", diff)
	}
}

// TestQueuePullRequestsOfOneRepositoryLeaveRoomForOthers: a flood of
// pull request events of one repository takes at most PerRepo keys and
// its further pull requests are refused, while another repository's push
// and pull requests, and the first repository's own push, are queued.
// Without the limit the flood filled the queue and another source's push
// was refused (agent TestWebhookFloodOfOneSourceSparesAnother).
func TestQueuePullRequestsOfOneRepositoryLeaveRoomForOthers(t *testing.T) {
	pr := func(repo string, n int) Event {
		return Event{Provider: GitHub, Kind: KindPullRequest, Repos: []string{repo},
			Ref: fmt.Sprintf("refs/pull/%d/head", n), PullRequest: &PullRequest{Number: n, Action: ActionSynchronized}}
	}
	const a, b = "https://git.example/o/a.git", "https://git.example/o/b.git"
	q := NewQueue(func(context.Context, Event) {}, QueueOptions{Size: 16, PerRepo: 4})
	refused := 0
	for n := 1; n <= 100; n++ {
		_, err := q.Enqueue(pr(a, n))
		switch {
		case errors.Is(err, ErrQueueFull):
			refused++
		case err != nil:
			t.Fatal(err)
		}
	}
	if refused != 96 {
		t.Errorf("%d of a's 100 pull requests refused, want 96 (4 queued)", refused)
	}
	for _, e := range []Event{pushEvent(b, "b000001"), pr(b, 1), pushEvent(a, "a000001"), pr(a, 2)} {
		if _, err := q.Enqueue(e); err != nil {
			t.Errorf("enqueue %s %s: %v", e.Kind, e.Repos[0], err)
		}
	}
	if q.Len() != 7 {
		t.Errorf("Len = %d, want 7 (a's 4 pull requests and push, b's push and pull request)", q.Len())
	}
}

// TestQueueForgetsAPullRequestKeyAfterItsCooldown: a repository's pull
// request keys count against its limit only while they are pending.
func TestQueueForgetsAPullRequestKeyAfterItsCooldown(t *testing.T) {
	rec := &recorder{}
	q := NewQueue(rec.deliver, QueueOptions{Size: 16, PerRepo: 1, Workers: 1})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = q.Run(ctx) }()
	for n := 1; n <= 2; n++ {
		e := Event{Provider: GitHub, Kind: KindPullRequest, Repos: []string{"https://git.example/o/a.git"},
			Ref: fmt.Sprintf("refs/pull/%d/head", n), PullRequest: &PullRequest{Number: n, Action: ActionOpened}}
		if _, err := q.Enqueue(e); err != nil {
			t.Fatalf("pull request %d: %v", n, err)
		}
		waitFor(t, func() bool { return q.Len() == 0 })
	}
	if got := len(rec.all()); got != 2 {
		t.Errorf("%d deliveries, want 2", got)
	}
}

func TestQueueDefaultPerRepo(t *testing.T) {
	for size, want := range map[int]int{256: 32, 8: 2, 2: 2} {
		if got := NewQueue(nil, QueueOptions{Size: size}).opts.PerRepo; got != want {
			t.Errorf("Size %d: PerRepo = %d, want %d", size, got, want)
		}
	}
}
