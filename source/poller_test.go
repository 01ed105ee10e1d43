package source

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/carina-gitops/carina/e2e/gitserver"
)

// runPoller starts p.Run and returns a channel of its updates.
func runPoller(t *testing.T, f *Fetcher, ref Ref, opts PollerOptions) (*Poller, <-chan Update) {
	t.Helper()
	ch := make(chan Update, 64)
	opts.OnUpdate = func(u Update) { ch <- u }
	p, err := NewPoller(f, ref, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return p, ch
}

func next(t *testing.T, ch <-chan Update) Update {
	t.Helper()
	select {
	case u := <-ch:
		return u
	case <-time.After(30 * time.Second):
		t.Fatal("no update within 30s")
	}
	return Update{}
}

type updateSummary struct {
	Kind           UpdateKind
	Relation       Relation
	Commit, Before string
}

func summarize(u Update) updateSummary {
	s := updateSummary{Kind: u.Kind, Relation: u.Relation}
	if u.Snapshot != nil {
		s.Commit = u.Snapshot.Commit
	}
	if u.Previous != nil {
		s.Before = u.Previous.Commit
	}
	return s
}

func TestPollerReportsFastForwardAndForcePush(t *testing.T) {
	repos, w, c1 := seedApp(t)
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{})
	f := newFetcher(t, nil)
	p, ch := runPoller(t, f, Ref{URL: srv.RepoURL("app"), Branch: "main"}, PollerOptions{Interval: time.Hour})

	if diff := cmp.Diff(updateSummary{Kind: UpdateInitial, Commit: c1}, summarize(next(t, ch))); diff != "" {
		t.Errorf("initial (-want +got):\n%s", diff)
	}

	// Three commits at once: a fast-forward the shallow cache cannot see
	// without fetching history.
	w.Write("a.txt", "1")
	w.Commit("a1")
	w.Write("a.txt", "2")
	w.Commit("a2")
	w.Write("a.txt", "3")
	c4 := w.Commit("a3")
	w.Push("main")
	p.Wake()
	if diff := cmp.Diff(updateSummary{Kind: UpdateChanged, Relation: RelationFastForward, Commit: c4, Before: c1}, summarize(next(t, ch))); diff != "" {
		t.Errorf("fast-forward (-want +got):\n%s", diff)
	}

	// Rewrite history: drop the last two commits and commit something else.
	w.Git("reset", "-q", "--hard", "HEAD~2")
	w.Write("b.txt", "rewritten")
	c5 := w.Commit("rewritten")
	w.ForcePush("main")
	p.Wake()
	u := next(t, ch)
	if diff := cmp.Diff(updateSummary{Kind: UpdateRewritten, Relation: RelationRewritten, Commit: c5, Before: c4}, summarize(u)); diff != "" {
		t.Errorf("force-push (-want +got):\n%s", diff)
	}
	if u.Err != nil || readFile(t, u.Snapshot, "b.txt") != "rewritten" {
		t.Errorf("force-push: err %v; the new head's tree must be used", u.Err)
	}

	// Force-push back to older history: a plain rollback.
	w.Git("reset", "-q", "--hard", c1)
	w.ForcePush("main")
	p.Wake()
	if diff := cmp.Diff(updateSummary{Kind: UpdateRewritten, Relation: RelationRewritten, Commit: c1, Before: c5}, summarize(next(t, ch))); diff != "" {
		t.Errorf("rollback (-want +got):\n%s", diff)
	}
	if got := p.Last().Commit; got != c1 {
		t.Errorf("Last() = %s, want %s", got, c1)
	}
}

func TestPollerKeepsLastGoodSnapshotAndBacksOff(t *testing.T) {
	repos, _, c1 := seedApp(t)
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{})
	f := newFetcher(t, nil)
	var updates []Update
	p, err := NewPoller(f, Ref{URL: srv.RepoURL("app")}, PollerOptions{
		Interval: time.Hour, MinBackoff: 100 * time.Millisecond, MaxBackoff: 350 * time.Millisecond,
		OnUpdate: func(u Update) { updates = append(updates, u) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if u := p.Poll(t.Context()); u.Kind != UpdateInitial || u.RetryIn != time.Hour {
		t.Fatalf("first poll = %s retry %s, want initial and the interval", u.Kind, u.RetryIn)
	}
	// The repository disappears: polls fail, backing off, keeping c1.
	if err := os.Rename(repos.Bare("app"), repos.Bare("app")+".gone"); err != nil {
		t.Fatal(err)
	}
	var retries []time.Duration
	for want := 1; want <= 4; want++ {
		u := p.Poll(t.Context())
		if u.Kind != UpdateFailed || u.Failures != want || !errors.Is(u.Err, ErrNotFound) {
			t.Fatalf("poll %d = %s failures %d err %v, want failed/%d/ErrNotFound", want, u.Kind, u.Failures, u.Err, want)
		}
		if u.Snapshot == nil || u.Snapshot.Commit != c1 || p.Last().Commit != c1 {
			t.Fatalf("poll %d lost the last good snapshot", want)
		}
		if _, err := os.Stat(u.Snapshot.Dir); err != nil {
			t.Fatalf("last good tree is gone: %v", err)
		}
		retries = append(retries, u.RetryIn)
	}
	if diff := cmp.Diff([]time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 350 * time.Millisecond, 350 * time.Millisecond}, retries); diff != "" {
		t.Errorf("backoff (-want +got):\n%s", diff)
	}
	if err := os.Rename(repos.Bare("app")+".gone", repos.Bare("app")); err != nil {
		t.Fatal(err)
	}
	if u := p.Poll(t.Context()); u.Kind != UpdateRecovered || u.Snapshot.Commit != c1 || u.RetryIn != time.Hour {
		t.Errorf("after recovery = %s %s retry %s, want recovered at %s", u.Kind, u.Snapshot.Commit, u.RetryIn, c1)
	}
	if u := p.Poll(t.Context()); u.Kind != UpdateUnchanged {
		t.Errorf("quiet poll = %s, want unchanged", u.Kind)
	}
	var kinds []UpdateKind
	for _, u := range updates {
		kinds = append(kinds, u.Kind)
	}
	if diff := cmp.Diff([]UpdateKind{UpdateInitial, UpdateFailed, UpdateFailed, UpdateFailed, UpdateFailed, UpdateRecovered}, kinds); diff != "" {
		t.Errorf("OnUpdate kinds (-want +got):\n%s", diff)
	}
}

func TestPollerJitterStaysInBounds(t *testing.T) {
	p, err := NewPoller(newFetcher(t, nil), Ref{URL: "https://git.example/app.git"}, PollerOptions{Interval: time.Minute, Jitter: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[time.Duration]bool{}
	for range 1000 {
		d := p.jitter(time.Minute)
		if d < 48*time.Second || d > 72*time.Second {
			t.Fatalf("jitter(1m) = %s, outside ±20%%", d)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Errorf("jitter gave only %d distinct delays in 1000 draws", len(seen))
	}
}

func TestPollerWakeFloodCostsAtMostTwoPolls(t *testing.T) {
	repos, w, _ := seedApp(t)
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{})
	f := newFetcher(t, nil)
	var pollers Pollers
	p, ch := runPoller(t, f, Ref{URL: srv.RepoURL("app")}, PollerOptions{Interval: time.Hour})
	pollers.Add(p)
	next(t, ch)
	before := p.Polls()
	w.Write("x", "y")
	want := w.Commit("x")
	w.Push("main")
	for range 1000 {
		pollers.Wake("git@127.0.0.1:app.git", srv.RepoURL("app"))
	}
	if u := next(t, ch); u.Snapshot.Commit != want {
		t.Errorf("after the flood: commit %s, want %s", u.Snapshot.Commit, want)
	}
	time.Sleep(500 * time.Millisecond) // let a second, coalesced poll finish
	if got := p.Polls() - before; got < 1 || got > 2 {
		t.Errorf("1000 wakes caused %d polls, want 1 or 2", got)
	}
	if n := pollers.Wake("https://elsewhere.example/app.git"); n != 0 {
		t.Errorf("a wake for another repository woke %d pollers", n)
	}
	pollers.Remove(p)
	if n := pollers.Wake(srv.RepoURL("app")); n != 0 {
		t.Errorf("a removed poller was woken")
	}
}

func TestPollerSemverMovesBetweenTagsWithoutRewrite(t *testing.T) {
	repos, w, c1 := seedApp(t)
	w.Tag("v1.0.0")
	w.Push("--tags")
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{})
	p, err := NewPoller(newFetcher(t, nil), Ref{URL: srv.RepoURL("app"), SemVer: "^1"}, PollerOptions{Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if u := p.Poll(t.Context()); u.Kind != UpdateInitial || u.Snapshot.Version != "v1.0.0" {
		t.Fatalf("first poll = %s %v", u.Kind, u.Err)
	}
	// A hotfix tag on other history is a normal move for a semver range.
	w.Git("checkout", "-q", "--orphan", "hotfix")
	w.Write("README.md", "hotfix\n")
	c2 := w.Commit("hotfix")
	w.Tag("v1.0.1")
	w.Push("--tags")
	u := p.Poll(t.Context())
	if diff := cmp.Diff(updateSummary{Kind: UpdateChanged, Relation: RelationUnknown, Commit: c2, Before: c1}, summarize(u)); diff != "" {
		t.Errorf("semver move (-want +got):\n%s", diff)
	}
	if u.Snapshot.Version != "v1.0.1" {
		t.Errorf("version = %q, want v1.0.1", u.Snapshot.Version)
	}
}
