package agent

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/agent/workflow"
	"github.com/carina-gitops/carina/internal/egress"
	"github.com/carina-gitops/carina/source/forge"
	"github.com/carina-gitops/carina/source/pin"
)

// promoter makes the pull requests of promote steps: once the source
// environment has been healthy at a release for the soak time, it writes
// the target environment's pin (environments/<env>.yaml) to the release's
// commit on the branch carina/promote/<app>-<env> and opens the pull
// request through the source's forge, or updates the one already open:
// the forge is the only state, so a restart never opens a second one.
// With autoMerge it merges once the forge's checks pass.
type promoter struct {
	sources func(name string) (config.Source, bool)
	forges  func(source string) *forge.Client
	// egress bounds where the clone and the push connect.
	egress *egress.Policy
	render func(ctx context.Context, d *desiredApp, env, commit string) (map[string][]byte, error)

	mu sync.Mutex
	// done are the proposals made, by app, env and commit: a step that
	// waits for checks does not push again.
	done map[string]pin.Proposal
	// verdicts are unchanged's answers, by app, env, commit and pinned
	// commit ("" when there is something to propose): a step polled
	// during its soak renders once.
	verdicts map[string]string
}

// newPromoter builds the promoter of the agent: the catalog's sources,
// the forge clients of the commit statuses, and renders for the diff.
func newPromoter(c *catalog, r *reconciler, st *commitStatuses, policy *egress.Policy) *promoter {
	return &promoter{sources: c.sourceConfig, render: renderAt(c, r), done: map[string]pin.Proposal{}, verdicts: map[string]string{}, forges: st.client, egress: policy}
}

// promoteTimeout bounds one proposal (a clone, a push, API calls).
const promoteTimeout = 2 * time.Minute

// Promote implements workflow.World: it waits for p.From to be applied
// and healthy at the current release for the soak, refuses a release
// that failed there, and proposes the release for p.To. A release that
// changes nothing p.To renders (a merged promotion, which only moves
// the pin) has nothing to propose: the step is done at once, without
// the soak, so that p.To deploys its new pin right after the merge.
func (w *world) Promote(ctx context.Context, p workflow.Promotion) workflow.Progress {
	v := w.d.store.view(w.app.Name, p.From)
	if v.terminal != "" && v.terminal == w.app.Inputs[p.From] {
		return workflow.Progress{Failed: true, Message: fmt.Sprintf("not promoted: %s failed at this revision: %s", p.From, firstLineOf(v.lastError))}
	}
	if h := w.progress([]string{p.From}); !h.Done {
		return workflow.Progress{Message: "waiting for " + h.Message}
	}
	if w.d.promoter != nil {
		uctx, cancel := context.WithTimeout(ctx, promoteTimeout)
		msg, ok := w.d.promoter.unchanged(uctx, w.app, p.To)
		cancel()
		if ok {
			return workflow.Progress{Done: true, Message: msg}
		}
	}
	if left := p.Since.Add(p.Soak).Sub(w.d.now()); left > 0 {
		return workflow.Progress{Message: fmt.Sprintf("%s is healthy; soaking for %s more before proposing %s", p.From, left.Round(time.Second), p.To)}
	}
	if w.d.promoter == nil {
		return workflow.Progress{Failed: true, Message: "promote needs the agent's promoter"}
	}
	ctx, cancel := context.WithTimeout(ctx, promoteTimeout)
	defer cancel()
	return w.d.promoter.propose(ctx, w.app, p)
}

// unchanged says whether d's release has nothing to propose for env:
// env is pinned, and renders the same at d's commit as at its pin. It
// answers false when env is not pinned or a render fails (the step then
// soaks and proposes as usual). The answers are kept per commit and pin.
func (pr *promoter) unchanged(ctx context.Context, d *desiredApp, env string) (string, bool) {
	pe := d.Pinned[env]
	if pe == nil || pe.View == nil || pe.View.Snapshot == nil || d.Snapshot == nil || pe.View.Snapshot.Commit == "" || d.Snapshot.Commit == "" {
		return "", false
	}
	from, to := pe.View.Snapshot.Commit, d.Snapshot.Commit
	if from == to {
		return fmt.Sprintf("%s is already pinned to %s", env, pin.Short(to)), true
	}
	key := d.Source + "/" + d.Name + "/" + env + "@" + to + ".." + from
	pr.mu.Lock()
	msg, known := pr.verdicts[key]
	pr.mu.Unlock()
	if known {
		return msg, msg != ""
	}
	after, err := pr.render(ctx, d, env, to)
	var before map[string][]byte
	if err == nil {
		before, err = pr.render(ctx, d, env, from)
	}
	if err == nil && len(pin.DiffSummary(before, after)) == 0 {
		msg = fmt.Sprintf("nothing to promote: %s renders the same at %s as at its pin %s", env, pin.Short(to), pin.Short(from))
	}
	if ctx.Err() != nil {
		return "", false // stopped or timed out: ask again
	}
	pr.mu.Lock()
	if len(pr.verdicts) > 1024 {
		clear(pr.verdicts)
	}
	pr.verdicts[key] = msg
	pr.mu.Unlock()
	return msg, msg != ""
}

// propose writes the pin of p.To to d's commit and opens or updates the
// pull request; with autoMerge it merges once the checks pass.
func (pr *promoter) propose(ctx context.Context, d *desiredApp, p workflow.Promotion) workflow.Progress {
	fail := func(err error) workflow.Progress {
		return workflow.Progress{Message: "promotion not proposed yet, retrying: " + sanitize(err, time.Time{}).Message}
	}
	src, ok := pr.sources(d.Source)
	client := pr.forges(d.Source)
	if !ok || client == nil {
		return workflow.Progress{Failed: true, Message: fmt.Sprintf("promote needs a forge on source %s (its forge: section)", d.Source)}
	}
	key := d.Name + "/" + p.To + "@" + d.Snapshot.Commit
	pr.mu.Lock()
	prop, proposed := pr.done[key]
	pr.mu.Unlock()
	if !proposed {
		branch := strings.TrimPrefix(d.Snapshot.Ref, "refs/heads/")
		repo, err := pin.Clone(ctx, src.URL, src.SourceRef().Auth, branch, pr.egress)
		if err != nil {
			return fail(err)
		}
		file, err := pin.Path("", p.To)
		if err != nil {
			return workflow.Progress{Failed: true, Message: err.Error()}
		}
		plan, err := pin.Plan(ctx, repo, d.Name, p.To, branch, file, d.Snapshot.Commit, func(ctx context.Context, commit string) (map[string][]byte, error) {
			return pr.render(ctx, d, p.To, commit)
		})
		if err != nil {
			return fail(err)
		}
		switch {
		case plan.From == plan.To:
			return workflow.Progress{Done: true, Message: fmt.Sprintf("%s is already pinned to %s", p.To, pin.Short(plan.To))}
		case plan.From != "" && plan.RenderErr == nil && len(plan.Changes) == 0:
			// Merging a promotion is a commit too: only a change of
			// what the environment renders is proposed.
			return workflow.Progress{Done: true, Message: fmt.Sprintf("nothing to promote: %s renders the same at %s as at its pin %s", p.To, pin.Short(plan.To), pin.Short(plan.From))}
		}
		plan.Opener = "Carina's `promote` step, once " + p.From + " was healthy"
		if p.Soak > 0 {
			plan.Opener += " for " + p.Soak.String()
		}
		if prop, err = pin.Propose(ctx, repo, client, plan, plan.Title()+"\n\nWritten by Carina's promote step.", pin.DefaultSignature); err != nil {
			return fail(err)
		}
		pr.mu.Lock()
		if len(pr.done) > 1024 {
			clear(pr.done)
		}
		pr.done[key] = prop
		pr.mu.Unlock()
	}
	verb := "updated"
	if prop.Created {
		verb = "opened"
	}
	msg := fmt.Sprintf("pull request #%d %s to pin %s to %s: %s", prop.PR.Number, verb, p.To, pin.Short(d.Snapshot.Commit), prop.PR.URL)
	if !p.AutoMerge {
		return workflow.Progress{Done: true, Message: msg}
	}
	cs, err := client.CombinedStatus(ctx, prop.Push.Commit)
	switch {
	case err != nil:
		return fail(err)
	case cs.State == forge.StateFailure || cs.State == forge.StateError:
		return workflow.Progress{Failed: true, Message: msg + "; its checks failed: not merged"}
	case len(cs.Statuses) > 0 && cs.State != forge.StateSuccess:
		return workflow.Progress{Message: msg + "; waiting for its checks to merge it"}
	}
	if err := client.Merge(ctx, prop.PR.Number, prop.Push.Commit); err != nil {
		return fail(err)
	}
	return workflow.Progress{Done: true, Message: fmt.Sprintf("pull request #%d merged: %s pinned to %s", prop.PR.Number, p.To, pin.Short(d.Snapshot.Commit))}
}

// firstLineOf is the first line of an error status, "" for none.
func firstLineOf(es *api.ErrorStatus) string {
	if es == nil {
		return ""
	}
	line, _, _ := strings.Cut(es.Message, "\n")
	return line
}

// renderAt renders env of app as it is at commit of its source, for the
// promotion's diff summary: objects by Kind/namespace/name with their
// JSON (compared, never shown).
func renderAt(c *catalog, r *reconciler) func(ctx context.Context, d *desiredApp, env, commit string) (map[string][]byte, error) {
	return func(ctx context.Context, d *desiredApp, env, commit string) (map[string][]byte, error) {
		l, err := c.loadAt(ctx, d.Source, commit)
		if err != nil {
			return nil, err
		}
		for _, a := range l.apps {
			if a.Name != d.Name {
				continue
			}
			e, ok := a.env(env)
			if !ok {
				return nil, fmt.Errorf("application %s has no environment %s at %s", d.Name, env, pin.Short(commit))
			}
			opts := r.renderOpts
			opts.Cluster = firstOr(e.Clusters, "")
			res, err := r.renderer.Render(ctx, a.App, e, a.Registry, a.Snapshot.FS(), opts)
			if err != nil {
				return nil, err
			}
			return res.ByRef()
		}
		return nil, fmt.Errorf("no application %s at %s", d.Name, pin.Short(commit))
	}
}
