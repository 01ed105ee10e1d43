package agent

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/source/forge"
	"github.com/carina-gitops/carina/source/pin"
)

// previewAllowed says whether pull request pr gets a preview under
// policy pol, and why not. defaultBranch is the branch the source
// follows. A pull request from a fork gets one only with the policy's
// requireLabel on it, or allowForks.
func previewAllowed(pol *appfile.Preview, pr forge.PullRequest, defaultBranch string) (bool, string) {
	branches := pol.Branches
	if len(branches) == 0 {
		branches = []string{defaultBranch}
	}
	switch {
	case !slices.Contains(branches, pr.BaseBranch):
		return false, fmt.Sprintf("targets branch %s, not %s", pr.BaseBranch, strings.Join(branches, ", "))
	case pr.Fork && !pol.AllowForks && (pol.RequireLabel == "" || !slices.Contains(pr.Labels, pol.RequireLabel)):
		if pol.RequireLabel != "" {
			return false, "comes from a fork and has no label " + pol.RequireLabel
		}
		return false, "comes from a fork (the policy does not allow forks)"
	case len(pol.Labels) > 0 && !slices.ContainsFunc(pol.Labels, func(l string) bool { return slices.Contains(pr.Labels, l) }):
		return false, "has none of the labels " + strings.Join(pol.Labels, ", ")
	case pol.TitlePattern != nil && !pol.TitlePattern.MatchString(pr.Title):
		return false, "has a title that does not match " + pol.TitlePattern.String()
	}
	return true, ""
}

// noPreview says why a pull request that the preview policy admits gets
// no preview environment all the same, "" when it gets one: the agent's
// own promotion pull requests (branch carina/promote/..., in the
// repository itself) change only a pin. They keep the diff comment,
// which shows what the new pin changes in the pinned environment.
func noPreview(pr forge.PullRequest) string {
	if !pr.Fork && strings.HasPrefix(pr.HeadBranch, pin.BranchPrefix) {
		return "a promotion pull request (branch " + pr.HeadBranch + ") changes only a pin"
	}
	return ""
}

// previewWant is a preview the open pull requests call for.
type previewWant struct {
	base *desiredApp
	pol  *appfile.Preview
	pr   forge.PullRequest
	// wait says why it waits, "" when it runs.
	wait string
	// none says why the pull request gets only the diff comment and no
	// preview at all (noPreview), "" when it gets one.
	none string
}

// previewsOnly is want without the pull requests that get no preview.
func previewsOnly(want map[envKey]*previewWant) map[envKey]*previewWant {
	out := make(map[envKey]*previewWant, len(want))
	for k, w := range want {
		if w.none == "" {
			out[k] = w
		}
	}
	return out
}

// wanted lists the previews the open pull requests call for, by (app,
// env): per app of the source with a preview policy on the followed
// branch, the pull requests that pass it, the oldest maxPreviews running
// and the others waiting. A pull request that passes it but gets no
// preview (noPreview) is listed for its diff comment only, and counts
// for no maxPreviews.
func (p *previews) wanted(st *sourceState, prs []forge.PullRequest) map[envKey]*previewWant {
	out := map[envKey]*previewWant{}
	slices.SortFunc(prs, func(x, y forge.PullRequest) int { return cmp.Compare(x.Number, y.Number) })
	branch := p.catalog.followedBranch(st)
	for _, name := range p.catalog.appsOf(st) {
		d := p.catalog.app(name)
		if d == nil {
			continue
		}
		pol, err := appfile.AppPreview(d.App)
		if err != nil || pol == nil {
			continue
		}
		n := 0
		for _, pr := range prs {
			if ok, _ := previewAllowed(pol, pr, branch); !ok {
				continue
			}
			w := &previewWant{base: d, pol: pol, pr: pr, none: noPreview(pr)}
			if w.none != "" {
				out[envKey{name, appfile.PreviewEnvName(pr.Number)}] = w
				continue
			}
			if n++; n > pol.MaxPreviews {
				w.wait = fmt.Sprintf("waiting: %d previews of %s run already (maxPreviews)", pol.MaxPreviews, name)
			}
			out[envKey{name, appfile.PreviewEnvName(pr.Number)}] = w
		}
	}
	return out
}

// sync makes the previews of one source what its open pull requests
// call for. A forge that does not answer changes nothing.
func (p *previews) sync(ctx context.Context, st *sourceState, ps *previewSource) {
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	prs, err := ps.forge.ListOpenPullRequests(lctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("pull requests cannot be listed; previews unchanged", "source", ps.name, "error", sanitize(err, time.Time{}).Message)
		}
		return
	}
	want := p.wanted(st, prs)
	run := previewsOnly(want)
	var start []envKey
	for _, k := range slices.SortedFunc(maps.Keys(run), compareKeys) {
		if ctx.Err() != nil {
			return
		}
		if p.take(ctx, st, ps, k, run[k]) {
			start = append(start, k)
		}
	}
	// The diff comments compare the previews before they deploy the
	// new heads; they are posted once the previews are on their way.
	jobs := p.prepareComments(ctx, st, ps, want)
	for _, k := range start {
		p.work.addEnv(k.app, k.env)
	}
	p.postComments(ctx, jobs)
	p.dropUnwanted(ps, run)
	if !ps.swept {
		ps.swept = p.sweep(ctx, ps, run)
	}
	p.rec.PreviewEnvironments(ps.name, p.running(ps.name))
}

func compareKeys(x, y envKey) int {
	return cmp.Or(cmp.Compare(x.app, y.app), cmp.Compare(x.env, y.env))
}

// take updates or holds one wanted preview, and says whether its env is
// to be (re)deployed.
func (p *previews) take(ctx context.Context, st *sourceState, ps *previewSource, k envKey, w *previewWant) bool {
	p.mu.Lock()
	cur := p.views[k]
	p.mu.Unlock()
	now := p.now()
	if cur != nil && samePR(cur.pr, w.pr) && cur.base == w.base.Release && (cur.view != nil) == (w.wait == "") {
		if w.pol.TTL > 0 && cur.view != nil && now.Sub(cur.since) > w.pol.TTL {
			p.expire(ps, k, cur, w.pol.TTL)
		}
		return false
	}
	if cur != nil && cur.view == nil && cur.expired && cur.pr.HeadSHA == w.pr.HeadSHA {
		return false // expired at this head: a push starts it again
	}
	since := now
	if cur != nil && cur.pr.HeadSHA == w.pr.HeadSHA {
		since = cur.since
	}
	pv := &preview{app: k.app, source: ps.name, pr: w.pr, base: w.base.Release, since: since}
	if w.wait != "" {
		if cur != nil && cur.view != nil {
			p.remove(ps, []*preview{cur}, "waits again (maxPreviews)")
		}
		pv.env = appfile.Environment{Name: k.env}
		p.set(k, pv, w.wait)
		p.statuses.postPreview(ps.name, k.app, k.env, w.pr.HeadSHA, forge.StatePending, w.wait)
		return false
	}
	if err := p.build(ctx, st, ps, w, pv); err != nil {
		es := sanitize(err, now)
		p.log.Warn("preview cannot be deployed", "source", ps.name, "app", k.app, "env", k.env, "commit", w.pr.HeadSHA, "error", es.Message)
		p.statuses.postPreview(ps.name, k.app, k.env, w.pr.HeadSHA, forge.StateFailure, es.Message)
		if cur == nil || cur.view == nil {
			p.set(k, pv, es.Message)
		}
		return false
	}
	p.rms.cancel(k.app, k.env, pv.env.Clusters)
	p.set(k, pv, "")
	p.log.Info("preview wanted", "source", ps.name, "app", k.app, "env", k.env, "pull_request", w.pr.Number, "commit", w.pr.HeadSHA)
	return true
}

// build loads the pull request's app, places it as the followed
// branch's policy says and prepares its namespace.
func (p *previews) build(ctx context.Context, st *sourceState, ps *previewSource, w *previewWant, pv *preview) error {
	l, err := p.loadPull(ctx, st, ps.forge.Kind(), w.pr.Number)
	if err != nil {
		return fmt.Errorf("pull request #%d cannot be loaded: %w", w.pr.Number, err)
	}
	i := slices.IndexFunc(l.apps, func(d *desiredApp) bool { return d.Name == w.base.Name })
	if i < 0 {
		if len(l.errs) > 0 {
			return fmt.Errorf("pull request #%d: application %s does not load: %w", w.pr.Number, w.base.Name, l.errs)
		}
		return fmt.Errorf("pull request #%d has no application %s", w.pr.Number, w.base.Name)
	}
	env, err := w.pol.Env(l.apps[i].App, w.pr.Number, p.catalog.cfg.Clusters[0].Name)
	if err != nil {
		return fmt.Errorf("pull request #%d: %w", w.pr.Number, err)
	}
	if err := p.ensureNamespaces(ctx, w.base.Name, env, w.pol); err != nil {
		return err
	}
	pv.env, pv.view = env, buildView(w.base, l.apps[i], env, w.pr)
	pv.pr.HeadSHA = l.snap.Commit // what was fetched, should the head have moved since the listing
	return nil
}

// set records pv as (app, env)'s preview and shows it in status, with
// why it does not run when it does not.
func (p *previews) set(k envKey, pv *preview, why string) {
	p.mu.Lock()
	p.views[k] = pv
	p.mu.Unlock()
	p.store.setPreview(k.app, k.env, pv, why, p.now())
}

// expire prunes a preview whose head did not move for ttl; a push
// starts it again.
func (p *previews) expire(ps *previewSource, k envKey, cur *preview, ttl time.Duration) {
	p.remove(ps, []*preview{cur}, fmt.Sprintf("expired: its head did not move for %s (ttl)", ttl))
	exp := *cur
	exp.view, exp.expired = nil, true
	p.set(k, &exp, fmt.Sprintf("expired: its head did not move for %s (ttl); a push starts it again", ttl))
	p.statuses.postPreview(ps.name, k.app, k.env, cur.pr.HeadSHA, forge.StateSuccess, "preview expired (ttl "+ttl.String()+")")
}

// dropUnwanted prunes the previews of ps that no open pull request
// calls for any more.
func (p *previews) dropUnwanted(ps *previewSource, want map[envKey]*previewWant) {
	var gone []*preview
	p.mu.Lock()
	for k, pv := range p.views {
		if pv.source == ps.name && want[k] == nil {
			delete(p.views, k)
			gone = append(gone, pv)
		}
	}
	p.mu.Unlock()
	p.remove(ps, gone, "closed, or no longer matching the preview policy")
}

// remove prunes running previews through the removals, and forgets the
// status of those that never ran.
func (p *previews) remove(ps *previewSource, gone []*preview, why string) {
	var rms []*removal
	for _, pv := range gone {
		if pv.view == nil {
			p.store.forgetPreview(pv.app, pv.env.Name)
			continue
		}
		p.log.Info("preview pruned", "source", ps.name, "app", pv.app, "env", pv.env.Name, "pull_request", pv.pr.Number, "why", why)
		rms = append(rms, &removal{app: pv.app, env: pv.env.Name, source: ps.name, revision: fmt.Sprintf("pull request #%d %s", pv.pr.Number, why),
			clusters: slices.Clone(pv.env.Clusters), as: identityOf(pv.env)})
	}
	p.rms.add(ps.name, rms)
}

// running counts the running previews of a source.
func (p *previews) running(src string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, pv := range p.views {
		if pv.source == src && pv.view != nil {
			n++
		}
	}
	return n
}

// sweep prunes the previews of ps that the clusters hold but no open
// pull request calls for: those whose pull request closed while no agent
// ran. It reports whether every cluster could be listed.
func (p *previews) sweep(ctx context.Context, ps *previewSource, want map[envKey]*previewWant) bool {
	byKey := map[envKey]*removal{}
	complete := true
	for _, c := range slices.Sorted(maps.Keys(p.targets.clusters)) {
		invs, err := p.targets.clusters[c].ListAllInventories(ctx)
		if err != nil {
			// With an error, the inventories that could be read.
			complete = complete && onlyCorrupt(err)
		}
		for _, inv := range invs {
			k := envKey{inv.App, inv.Env}
			if _, ok := appfile.PreviewNumber(inv.Env); !ok || inv.Extra[extraSource] != ps.name || (want[k] != nil && want[k].wait == "") {
				continue
			}
			as, ok := foundIdentity(inv, p.targets.agentNamespace)
			if !ok {
				continue
			}
			if byKey[k] == nil {
				byKey[k] = &removal{app: inv.App, env: inv.Env, source: ps.name, revision: "a pull request closed while no agent ran", orphan: true, as: as}
			}
			byKey[k].clusters = append(byKey[k].clusters, c)
		}
	}
	rms := slices.SortedFunc(maps.Values(byKey), func(x, y *removal) int { return compareKeys(x.key(), y.key()) })
	for _, rm := range rms {
		p.log.Info("preview left behind; pruning", "source", ps.name, "app", rm.app, "env", rm.env, "clusters", rm.clusters)
	}
	p.rms.add(ps.name, rms)
	return complete
}

// pruned is told that the removal of (app, env) finished: a preview
// that is not wanted again loses its namespace where the agent created
// it, and its status.
func (p *previews) pruned(ctx context.Context, app, env string) {
	if _, ok := appfile.PreviewNumber(env); !ok {
		return
	}
	p.mu.Lock()
	pv := p.views[envKey{app, env}]
	p.mu.Unlock()
	if pv != nil && pv.view != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	p.deleteNamespaces(ctx, app, env)
	if pv == nil {
		p.store.forgetPreview(app, env)
	}
}

// followedBranch is the branch st follows: its configured branch, or
// the one its snapshot resolved (the remote's default).
func (c *catalog) followedBranch(st *sourceState) string {
	if st.cfg.Branch != "" {
		return st.cfg.Branch
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.snap != nil {
		return strings.TrimPrefix(st.snap.Ref, "refs/heads/")
	}
	return ""
}
