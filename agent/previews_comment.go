package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carina-gitops/carina/render/sops"
)

// commentKey is the forge key of the diff comment: its hidden marker is
// <!-- carina:diff -->.
const commentKey = "diff"

// commentTimeout bounds the renders and dry-runs of one pull request's
// comment; postTimeout the forge calls that post it.
const (
	commentTimeout = 2 * time.Minute
	postTimeout    = 30 * time.Second
)

// prComments keeps one diff comment on each pull request that a preview
// policy admits (running or waiting): what merging it would change in
// each environment of each such app, and in its preview. The comment is
// computed when what it is computed from changes (its stamp: the head,
// the followed branch's apps, the previews running) and edited in
// place; the stamp is hidden in the comment, so an agent that restarted
// finds it there and posts nothing again.
type prComments struct {
	log   *slog.Logger
	diffs *prDiffs

	mu sync.Mutex
	// stamps are the stamps posted (or found on the forge), by source
	// and pull request.
	stamps map[prKey]string
}

type prKey struct {
	source string
	number int
}

// commentJob is a computed comment waiting to be posted.
type commentJob struct {
	ps     *previewSource
	number int
	stamp  string
	body   string
}

func newPRComments(log *slog.Logger, diffs *prDiffs) *prComments {
	return &prComments{log: log, diffs: diffs, stamps: map[prKey]string{}}
}

// prepareComments computes the comments of the pull requests of ps whose
// stamp changed. It runs before the previews it compares are deployed,
// so that a preview's section shows what the push changes there.
func (p *previews) prepareComments(ctx context.Context, st *sourceState, ps *previewSource, want map[envKey]*previewWant) []commentJob {
	c := p.comments
	if c == nil {
		return nil
	}
	byPR := map[int][]envKey{}
	for k, w := range want {
		byPR[w.pr.Number] = append(byPR[w.pr.Number], k)
	}
	c.keepOnly(ps.name, byPR)
	var jobs []commentJob
	for _, n := range slices.Sorted(maps.Keys(byPR)) {
		if ctx.Err() != nil {
			return jobs
		}
		keys := slices.SortedFunc(slices.Values(byPR[n]), compareKeys)
		stamp := p.commentStamp(keys, want)
		if c.posted(ps.name, n) == stamp {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, commentTimeout)
		body, err := p.diffComment(cctx, st, ps, keys, want, stamp)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("diff comment not computed", "source", ps.name, "pull_request", n, "error", sanitize(err, time.Time{}).Message)
			}
			continue
		}
		jobs = append(jobs, commentJob{ps: ps, number: n, stamp: stamp, body: body})
	}
	return jobs
}

// commentStamp names what a pull request's comment is computed from:
// its head, the followed branch's version of each app, and which
// previews run or wait.
func (p *previews) commentStamp(keys []envKey, want map[envKey]*previewWant) string {
	h := sha256.New()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range keys {
		w := want[k]
		state := "waiting"
		if pv := p.views[k]; pv != nil && pv.view != nil {
			state = "running " + pv.pr.HeadSHA + " " + pv.env.Namespace
		}
		fmt.Fprintf(h, "%s %s head %s base %s %s preview %s\n", k.app, k.env, w.pr.HeadSHA, w.pr.BaseBranch, w.base.Release, state)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// diffComment computes the comment of one pull request: each of its
// apps (keys) compared at its head.
func (p *previews) diffComment(ctx context.Context, st *sourceState, ps *previewSource, keys []envKey, want map[envKey]*previewWant, stamp string) (string, error) {
	pr := want[keys[0]].pr
	head, err := p.loadPull(ctx, st, ps.forge.Kind(), pr.Number)
	if err != nil {
		return "", fmt.Errorf("pull request #%d cannot be loaded: %w", pr.Number, err)
	}
	d := prDiff{number: pr.Number, head: head.snap.Commit, branch: pr.HeadBranch, base: pr.BaseBranch,
		baseCommit: want[keys[0]].base.Snapshot.Commit}
	var plain []string
	for _, k := range keys {
		w := want[k]
		p.mu.Lock()
		pv := p.views[k]
		p.mu.Unlock()
		if pv != nil && (pv.view == nil || pv.pr.HeadSHA != head.snap.Commit) {
			pv = nil // not running, or at another head: not compared
		}
		ad := p.comments.diffs.appDiff(ctx, st, w.base, head, pv)
		switch {
		case w.none != "":
			ad.envs = append(ad.envs, envDiff{env: k.env, preview: true, note: "No preview: " + w.none + "."})
		case w.wait != "":
			ad.envs = append(ad.envs, envDiff{env: k.env, preview: true, note: "No preview runs: " + w.wait + "."})
		}
		for _, e := range ad.envs {
			plain = append(plain, e.plain...)
		}
		d.apps = append(d.apps, ad)
	}
	body := d.markdown(stamp)
	if len(plain) > 0 {
		body = sops.Redact(body, plain)
	}
	return body, nil
}

// postComments posts computed comments, after the previews started. A
// pull request this agent has posted nothing to yet (a new one, or any
// after a restart) is looked up first: a comment that carries the same
// stamp is left as it is.
func (p *previews) postComments(ctx context.Context, jobs []commentJob) {
	c := p.comments
	for _, j := range jobs {
		if ctx.Err() != nil {
			return
		}
		pctx, cancel := context.WithTimeout(ctx, postTimeout)
		err := c.post(pctx, j)
		cancel()
		if err != nil && ctx.Err() == nil {
			c.log.Warn("diff comment not posted", "source", j.ps.name, "pull_request", j.number, "error", sanitize(err, time.Time{}).Message)
		}
	}
}

func (c *prComments) post(ctx context.Context, j commentJob) error {
	if c.posted(j.ps.name, j.number) == "" {
		cm, ok, err := j.ps.forge.FindComment(ctx, j.number, commentKey)
		if err != nil {
			return err
		}
		if ok && strings.Contains(cm.Body, stampLine(j.stamp)) {
			c.remember(j.ps.name, j.number, j.stamp)
			return nil
		}
	}
	cm, created, err := j.ps.forge.UpsertComment(ctx, j.number, commentKey, j.body)
	if err != nil {
		return err
	}
	c.remember(j.ps.name, j.number, j.stamp)
	c.log.Info("diff comment posted", "source", j.ps.name, "pull_request", j.number, "comment", cm.ID, "created", created)
	return nil
}

// posted is the stamp last posted on pull request number of src, "" for
// none.
func (c *prComments) posted(src string, number int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stamps[prKey{src, number}]
}

func (c *prComments) remember(src string, number int, stamp string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stamps[prKey{src, number}] = stamp
}

// keepOnly forgets the stamps of the pull requests of src that no
// preview policy admits any more (closed ones).
func (c *prComments) keepOnly(src string, open map[int][]envKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.stamps {
		if k.source == src && open[k.number] == nil {
			delete(c.stamps, k)
		}
	}
}
