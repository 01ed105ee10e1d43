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
