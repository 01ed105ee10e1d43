package webhook

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carina-gitops/carina/source"
)

// ErrQueueFull is returned by Enqueue when the queue holds as many
// distinct keys as it may, or the event's repository as many pull
// request keys as it may; the handler answers 503.
var ErrQueueFull = errors.New("webhook queue is full")

// ErrUnwatched is returned by Enqueue for an event that names no
// repository of QueueOptions.Watched: nothing is queued, and the handler
// answers 202.
var ErrUnwatched = errors.New("no source watches the repository")

// QueueOptions configure a Queue.
type QueueOptions struct {
	// Size is the most distinct pending keys (repositories, or pull
	// requests) the queue holds.
	Size int
	// Workers deliver events concurrently; one key is never delivered
	// twice at the same time.
	Workers int
	// Cooldown is the least time between two deliveries of one key. The
	// first event of a key is delivered at once; events during the
	// cooldown merge into one delivery when it ends. Zero means none.
	Cooldown time.Duration
	// PerRepo is the most pull request keys one repository may hold, so
	// that a flood of one repository's pull request events (each pull
	// request has its own key) cannot fill the queue and have the pushes
	// of other repositories refused. A repository's pushes and tags
	// share one key, which this limit never refuses. Zero means Size/8,
	// at least 2.
	PerRepo int
	// Watched are the repository keys (source.RepoKey) of the sources
	// the events wake. When set, an event is cut down to the URLs of
	// watched repositories and one that names none is refused with
	// ErrUnwatched before it takes a key, so that no flood of other
	// repositories (the generic receiver's secret is shared by all its
	// senders) can fill the queue; and each watched repository has a push
	// key of its own besides Size, so its pushes and tags are never
	// refused. Pull request keys share Size, at most PerRepo per
	// repository. Nil watches every repository, and every key shares
	// Size.
	Watched []string
}

// DefaultQueueOptions returns 256 keys, 4 workers and a 1s cooldown.
func DefaultQueueOptions() QueueOptions {
	return QueueOptions{Size: 256, Workers: 4, Cooldown: time.Second}
}

// Queue holds events until a worker delivers them, coalescing per key: a
// repository's pushes and tags share a key, each pull request has its
// own. The first event of a key is delivered at once. Events that arrive
// while it waits replace it; events that arrive while it is delivered or
// within Cooldown after merge into one more delivery at the end of the
// cooldown. So a flood of any size within one cooldown costs at most two
// deliveries, and a source is woken at most twice.
type Queue struct {
	deliver func(context.Context, Event)
	opts    QueueOptions
	watched map[string]bool // nil: every repository

	mu      sync.Mutex
	pending map[string]*entry
	sized   int            // pending keys that count against Size
	prs     map[string]int // pull request keys pending per repository
	ready   chan string
}

type entry struct {
	ev     Event
	queued bool   // waiting in ready
	again  bool   // changed since its delivery began: deliver once more
	prRepo string // the repository of a pull request key, counted in prs
	sized  bool   // counts against Size (a watched repository's push key does not)
}

// NewQueue returns a Queue that calls deliver for each coalesced event.
// A zero Size or Workers takes its default.
func NewQueue(deliver func(context.Context, Event), opts QueueOptions) *Queue {
	def := DefaultQueueOptions()
	if opts.Size <= 0 {
		opts.Size = def.Size
	}
	if opts.Workers <= 0 {
		opts.Workers = def.Workers
	}
	if opts.PerRepo <= 0 {
		opts.PerRepo = max(opts.Size/8, 2)
	}
	q := &Queue{deliver: deliver, opts: opts, pending: map[string]*entry{}, prs: map[string]int{}}
	if opts.Watched != nil {
		q.watched = map[string]bool{}
		for _, k := range opts.Watched {
			if k != "" {
				q.watched[k] = true
			}
		}
	}
	// ready holds at most every pending key: Size, and one push key per
	// watched repository.
	q.ready = make(chan string, opts.Size+len(q.watched))
	return q
}

// coalesceKey groups events that one delivery can stand for. repo is the
// repository part of a pull request's key, "" for other events.
func coalesceKey(e Event) (key, repo string) {
	keys := e.RepoKeys()
	repos := strings.Join(keys, ",")
	if e.Kind == KindPullRequest && e.PullRequest != nil {
		return repos + "#pr" + strconv.Itoa(e.PullRequest.Number), repos
	}
	return repos, ""
}

// Enqueue adds e. coalesced is true when e merged into a pending event.
// With QueueOptions.Watched, e is cut down to the URLs of watched
// repositories first (ErrUnwatched when none is left), and a push or tag
// takes the push key of each of its repositories, which is never refused.
func (q *Queue) Enqueue(e Event) (coalesced bool, err error) {
	if q.watched != nil {
		if e.Repos = q.only(e.Repos, nil); len(e.Repos) == 0 {
			return false, ErrUnwatched
		}
		if e.Kind != KindPullRequest {
			coalesced = true
			for _, k := range e.RepoKeys() {
				one := e
				one.Repos = q.only(e.Repos, &k)
				c, _ := q.add(k, "", one, false)
				coalesced = coalesced && c
			}
			return coalesced, nil
		}
	}
	key, prRepo := coalesceKey(e)
	return q.add(key, prRepo, e, true)
}

// only keeps the URLs of watched repositories, of repository key alone
// when it is set.
func (q *Queue) only(urls []string, key *string) []string {
	var out []string
	for _, u := range urls {
		k := source.RepoKey(u)
		if q.watched[k] && (key == nil || k == *key) {
			out = append(out, u)
		}
	}
	return out
}

// add queues e under key, or merges it into the pending event of key. A
// sized key counts against Size; prRepo, when set, is the repository
// whose pull request keys PerRepo bounds.
func (q *Queue) add(key, prRepo string, e Event, sized bool) (coalesced bool, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if ent, ok := q.pending[key]; ok {
		ent.ev = e
		if !ent.queued {
			ent.again = true // being delivered or cooling down
		}
		return true, nil
	}
	if sized && q.sized >= q.opts.Size || prRepo != "" && q.prs[prRepo] >= q.opts.PerRepo {
		return false, ErrQueueFull
	}
	if prRepo != "" {
		q.prs[prRepo]++
	}
	if sized {
		q.sized++
	}
	q.pending[key] = &entry{ev: e, queued: true, prRepo: prRepo, sized: sized}
	q.ready <- key // never blocks: ready holds every pending key
	return false, nil
}

// Len returns how many keys are pending, being delivered or cooling down.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// Run delivers events until ctx is done, then returns nil.
func (q *Queue) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range q.opts.Workers {
		wg.Go(func() { q.work(ctx) })
	}
	wg.Wait()
	return nil
}

func (q *Queue) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case key := <-q.ready:
			q.mu.Lock()
			ent := q.pending[key]
			ent.queued = false
			ev := ent.ev
			q.mu.Unlock()

			start := time.Now()
			q.deliver(ctx, ev)

			if wait := q.opts.Cooldown - time.Since(start); wait > 0 {
				time.AfterFunc(wait, func() { q.cooled(key) })
			} else {
				q.cooled(key)
			}
		}
	}
}

// cooled ends the cooldown of key: it is delivered once more if events
// arrived since its delivery began, and forgotten otherwise.
func (q *Queue) cooled(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	ent := q.pending[key]
	if ent.again {
		ent.again, ent.queued = false, true
		q.ready <- key
		return
	}
	delete(q.pending, key)
	if ent.sized {
		q.sized--
	}
	if r := ent.prRepo; r != "" {
		if q.prs[r]--; q.prs[r] == 0 {
			delete(q.prs, r)
		}
	}
}
