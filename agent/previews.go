package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/carina-gitops/carina/agent/metrics"
	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/render"
	"github.com/carina-gitops/carina/source/forge"
)

// Preview environments. An app whose definition on the followed branch
// has a preview policy gets an environment pr-<number> for each open pull
// request of its source's repository that passes the policy's filters:
// the pull request's version of the app (its head commit, fetched from
// the forge's pull request ref) deployed into a namespace of its own,
// with the clusters, namespace and service account the followed branch's
// policy says. The pull request's content never decides where it
// deploys.
//
// previews finds them by listing the open pull requests through the
// source's forge API: at start, on the source's poll interval, and at
// once when a pull request webhook of the repository arrives. A preview
// is an ordinary (app, pr-N) work item: dispatch hands the reconciler
// the preview's view of the app (view), which is not gated by the
// workflow. A pull request that leaves the open list, or the filters,
// becomes a removal; once pruned, the namespace goes too when the agent
// created it (previews_namespace.go).
type previews struct {
	log     *slog.Logger
	rec     *metrics.Recorder
	now     func() time.Time
	catalog *catalog
	store   *statusStore
	rms     *removals
	work    *workers
	targets *targetSet
	// statuses posts the carina/preview commit statuses.
	statuses *commitStatuses
	// comments keeps the diff comment of each pull request.
	comments *prComments
	// clients create and delete preview namespaces (RunOptions.Clients).
	clients map[string]kubernetes.Interface

	mu    sync.Mutex
	srcs  map[string]*previewSource // by source name
	views map[envKey]*preview
}

// previewSource is the preview discovery of one app source.
type previewSource struct {
	name    string
	forge   *forge.Client
	repoKey string
	wake    chan struct{}
	// swept: the previews left behind while no agent ran were looked
	// for (sweep).
	swept bool
}

// preview is one running (or waiting) preview environment.
type preview struct {
	app, source string
	pr          forge.PullRequest
	env         appfile.Environment
	// view is the app as the reconcile of the env sees it; nil while
	// the preview waits or failed to load.
	view *desiredApp
	// base is the inputs digest of the followed branch's app the view
	// was built with: a change of the policy rebuilds it.
	base string
	// expired: pruned by the ttl at this head.
	expired bool
	// since is when the head was first seen (ttl).
	since time.Time
}

func newPreviews(log *slog.Logger, rec *metrics.Recorder, now func() time.Time) *previews {
	return &previews{log: log, rec: rec, now: now, srcs: map[string]*previewSource{}, views: map[envKey]*preview{}}
}

// view is the preview's desired app of (app, env), nil when (app, env)
// is no running preview.
func (p *previews) view(app, env string) *desiredApp {
	if _, ok := appfile.PreviewNumber(env); !ok {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if pv := p.views[envKey{app, env}]; pv != nil {
		return pv.view
	}
	return nil
}

// isPreview reports whether (app, env) is a preview this agent runs or
// waits with.
func (p *previews) isPreview(app, env string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.views[envKey{app, env}] != nil
}

// loadedRevision is the revision of st's last load.
func (c *catalog) loadedRevision(st *sourceState) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return st.loadedRev
}

// wake wakes the discovery of the sources of the repositories keys
// names (a pull request webhook).
func (p *previews) wake(keys []string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, s := range p.srcs {
		if slices.Contains(keys, s.repoKey) {
			select {
			case s.wake <- struct{}{}:
			default:
			}
			n++
		}
	}
	return n
}

// run runs the discovery of every app source with a forge until ctx
// ends.
func (p *previews) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, st := range p.catalog.appSources() {
		fc := p.statuses.client(st.cfg.Name)
		if fc == nil {
			continue
		}
		ps := &previewSource{name: st.cfg.Name, forge: fc, repoKey: st.poller.RepoKey(), wake: make(chan struct{}, 1)}
		p.mu.Lock()
		p.srcs[ps.name] = ps
		p.mu.Unlock()
		p.rec.PreviewEnvironments(ps.name, 0)
		interval := st.cfg.Interval
		if interval <= 0 {
			interval = p.catalog.cfg.Reconcile.PollInterval
		}
		wg.Go(func() { p.loop(ctx, st, ps, interval) })
	}
	wg.Wait()
}

// loop syncs one source's previews at once, on its interval and when
// woken.
func (p *previews) loop(ctx context.Context, st *sourceState, ps *previewSource, interval time.Duration) {
	t := time.NewTimer(0)
	defer t.Stop()
	// A new load of the source (a policy added or changed on the
	// followed branch) syncs too.
	loads := time.NewTicker(time.Second)
	defer loads.Stop()
	rev := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-ps.wake:
		case <-loads.C:
			if cur := p.catalog.loadedRevision(st); cur == rev {
				continue
			}
		}
		// Before the source's first load no app is known: every
		// preview would look unwanted.
		if rev = p.catalog.loadedRevision(st); rev != "" {
			p.sync(ctx, st, ps)
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(interval)
	}
}

// previewInputs is the inputs digest of a preview env: the pull
// request's commit, the definitions it uses, the environment and what
// definitions see of the pull request (context.pullRequest).
func previewInputs(d *desiredApp, env appfile.Environment, pr *render.PullRequest) string {
	envJSON, _ := json.Marshal(env)
	prJSON, _ := json.Marshal(pr)
	h := sha256.New()
	fmt.Fprintf(h, "preview %s\ndefs %s\nenv %s\npr %s\n", d.Snapshot.Commit, defsDigest(d.Registry, d.App, env), envJSON, prJSON)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// buildView is the preview's view of the pull request's app at: its
// components, traits and definitions, in env, not gated by the workflow
// (an empty Release is what an unreleased env has), rendered with
// context.pullRequest.
func buildView(base *desiredApp, at *desiredApp, env appfile.Environment, pr forge.PullRequest) *desiredApp {
	v := *at
	v.Source, v.Repo = base.Source, base.Repo
	v.Envs = []appfile.Environment{env}
	v.PullRequest = prContext(pr, at.Snapshot.Commit)
	v.Inputs = map[string]string{env.Name: previewInputs(at, env, v.PullRequest)}
	v.Release, v.Pinned = "", nil
	return &v
}

// prContext is context.pullRequest of pr, whose head was fetched at
// commit.
func prContext(pr forge.PullRequest, commit string) *render.PullRequest {
	return &render.PullRequest{Number: pr.Number, Branch: pr.HeadBranch, Base: pr.BaseBranch, HeadSHA: commit,
		Author: pr.Author, Labels: slices.Clone(pr.Labels)}
}

// samePR reports whether a and b show definitions the same pull
// request (context.pullRequest), head included.
func samePR(a, b forge.PullRequest) bool {
	return a.Number == b.Number && a.HeadSHA == b.HeadSHA && a.HeadBranch == b.HeadBranch && a.BaseBranch == b.BaseBranch &&
		a.Author == b.Author && slices.Equal(a.Labels, b.Labels)
}

// pullRef is the forge's ref of a pull request's head.
func pullRef(k forge.Kind, number int) string {
	if k == forge.GitLab {
		return fmt.Sprintf("refs/merge-requests/%d/head", number)
	}
	return fmt.Sprintf("refs/pull/%d/head", number)
}

// loadPull loads the apps of st at the head of pull request number.
func (p *previews) loadPull(ctx context.Context, st *sourceState, k forge.Kind, number int) (*loaded, error) {
	ref := st.cfg.SourceRef()
	ref.Branch, ref.Tag, ref.SemVer, ref.TagPrefix, ref.Commit = "", "", "", "", ""
	ref.Name = pullRef(k, number)
	return p.catalog.loadRef(ctx, st, ref)
}

// confinePreview refuses a preview's set that writes outside its
// namespace: a cluster-scoped object, or one in another namespace. Only
// a preview env is confined; the preview's service account, when the
// policy names one, is the second wall.
func confinePreview(e appfile.Environment, set *apply.Set) error {
	if _, ok := appfile.PreviewNumber(e.Name); !ok {
		return nil
	}
	var out []string
	for _, o := range set.Objects {
		switch ns := o.Obj.GetNamespace(); ns {
		case e.Namespace:
		case "":
			out = append(out, fmt.Sprintf("%s/%s is cluster-scoped", o.Obj.GetKind(), o.Obj.GetName()))
		default:
			out = append(out, fmt.Sprintf("%s/%s/%s is in another namespace", o.Obj.GetKind(), ns, o.Obj.GetName()))
		}
	}
	if len(out) == 0 {
		return nil
	}
	return fmt.Errorf("preview %s writes only into namespace %s; refused: %s", e.Name, e.Namespace, strings.Join(out, "; "))
}
