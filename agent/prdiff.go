package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/diff"
	"github.com/carina-gitops/carina/apply/policy"
	"github.com/carina-gitops/carina/render"
	"github.com/carina-gitops/carina/render/sops"
	"github.com/carina-gitops/carina/source/pin"
)

// prDiffs computes what merging a pull request would change in each
// environment of an app, for the diff comment: the pull request's
// version of the app (or, for a pinned environment, what the pull
// request pins it to) rendered for the environment where the followed
// branch deploys it, and compared with the live clusters by the
// server's dry-run, the diff carina diff shows, as the environment's
// identity (its service account when it names one). Nothing is written.
// Values decrypted from SOPS files are masked, and a Secret's values are
// never shown.
type prDiffs struct {
	catalog  *catalog
	targets  *targetSet
	renderer Renderer
	opts     render.Options
	secrets  *sourceSecrets
	versions *clusterVersions
}

// differ is a Target that can say what an apply would change, by
// dry-run (*apply.Manager).
type differ interface {
	Diff(ctx context.Context, set *apply.Set, opts apply.DiffOptions) ([]diff.Object, error)
}

var _ differ = (*apply.Manager)(nil)

// appDiff compares base, the app on the followed branch, with the same
// app at the pull request's head (the load head), in each of base's
// environments and in pv, the pull request's running preview, if any.
func (x *prDiffs) appDiff(ctx context.Context, st *sourceState, base *desiredApp, head *loaded, pv *preview) appDiff {
	out := appDiff{name: base.Name}
	i := slices.IndexFunc(head.apps, func(d *desiredApp) bool { return d.Name == base.Name })
	if i < 0 {
		if head.broken[base.App.Pos.File] {
			out.err = "it does not load at the head: " + x.clean(head.errs, nil)
			return out
		}
		for _, e := range base.Envs {
			out.envs = append(out.envs, x.removed(ctx, base, e, "This pull request removes the application"))
		}
		return out
	}
	at := head.apps[i]
	for _, e := range base.Envs {
		out.envs = append(out.envs, x.baseEnv(ctx, st, base, at, e))
	}
	for _, e := range at.Envs {
		if _, ok := base.env(e.Name); !ok {
			out.envs = append(out.envs, envDiff{env: e.Name,
				note: "new in this pull request: where it deploys is trusted only once merged, so it is not compared with a cluster"})
		}
	}
	if pv != nil && pv.view != nil {
		ed := x.compare(ctx, pv.view, pv.env, identityOf(pv.env))
		ed.preview = true
		out.envs = append(out.envs, ed)
	}
	return out
}

// baseEnv compares env e of base with what it deploys once the pull
// request, whose app is at, is merged. Where it deploys (clusters,
// namespace, service account) is what base says.
func (x *prDiffs) baseEnv(ctx context.Context, st *sourceState, base, at *desiredApp, e appfile.Environment) envDiff {
	what, note, err := x.atMerge(ctx, st, base, at, e.Name)
	switch {
	case err != nil:
		return envDiff{env: e.Name, err: x.clean(err, nil)}
	case what == nil:
		return envDiff{env: e.Name, note: note}
	}
	pe, ok := what.env(e.Name)
	if !ok {
		return x.removed(ctx, base, e, "This pull request removes the environment")
	}
	pe.Clusters, pe.Namespace, pe.ServiceAccount, pe.Step = e.Clusters, e.Namespace, e.ServiceAccount, e.Step
	d := *what
	d.Source, d.Repo, d.PullRequest = base.Source, base.Repo, nil
	out := x.compare(ctx, &d, pe, identityOf(e))
	out.note = note
	return out
}

// atMerge is the app env deploys once the pull request is merged: at,
// or the app at the revision the pull request pins env to; nil with a
// note when the pin stays where it is.
func (x *prDiffs) atMerge(ctx context.Context, st *sourceState, base, at *desiredApp, env string) (*desiredApp, string, error) {
	file, err := pin.Path("", env)
	if err != nil {
		return at, "", nil // not a DNS label: never pinned
	}
	was := ""
	if bp := base.Pinned[env]; bp != nil {
		was = bp.Revision
	}
	p, err := pin.Read(at.Snapshot.FS(), file)
	switch {
	case errors.Is(err, pin.ErrNotPinned):
		if was != "" {
			return at, fmt.Sprintf("This pull request removes the pin of %s (%s): it follows the branch once merged.", code(env), code(pin.Short(was))), nil
		}
		return at, "", nil
	case err != nil:
		return nil, "", err
	case p.Revision == was:
		return nil, fmt.Sprintf("Pinned to %s; this pull request does not move the pin, so merging it changes nothing here.", code(pin.Short(was))), nil
	}
	l, err := x.catalog.loadRef(ctx, st, pinRef(st, p.Revision))
	if err != nil {
		return nil, "", fmt.Errorf("%s: environment %s would be pinned to %s, which cannot be loaded: %w", file, env, p.Revision, err)
	}
	i := slices.IndexFunc(l.apps, func(d *desiredApp) bool { return d.Name == base.Name })
	if i < 0 {
		return nil, "", fmt.Errorf("%s: environment %s would be pinned to %s, where application %s does not load", file, env, p.Revision, base.Name)
	}
	note := fmt.Sprintf("This pull request pins %s to %s", code(env), code(pin.Short(p.Revision)))
	if was != "" {
		note += fmt.Sprintf(" (from %s)", code(pin.Short(was)))
	}
	return l.apps[i], note + ".", nil
}

// removed is an environment that merging the pull request removes: its
// objects would be pruned.
func (x *prDiffs) removed(ctx context.Context, base *desiredApp, e appfile.Environment, why string) envDiff {
	n := 0
	for _, c := range e.Clusters {
		t, err := x.targets.get(c, identityOf(e))
		if err != nil {
			continue
		}
		if inv, err := t.ReadInventory(ctx, base.Name, e.Name); err == nil && inv != nil {
			n += len(inv.Entries)
		}
	}
	return envDiff{env: e.Name, note: fmt.Sprintf("%s: merging it prunes the %d objects applied there.", why, n)}
}

// compare renders d for e and diffs the result with each of e's
// clusters, as identity as.
func (x *prDiffs) compare(ctx context.Context, d *desiredApp, e appfile.Environment, as identity) envDiff {
	out := envDiff{env: e.Name}
	set, secret, plain, err := x.render(ctx, d, e)
	out.plain = plain
	if err == nil {
		err = confinePreview(e, set)
	}
	if err != nil {
		out.err = x.clean(err, plain)
		return out
	}
	for _, c := range e.Clusters {
		out.clusters = append(out.clusters, x.compareIn(ctx, c, as, set, secret, plain))
	}
	return out
}

// compareIn diffs set with one cluster.
func (x *prDiffs) compareIn(ctx context.Context, cluster string, as identity, set *apply.Set, secret map[string][][]string, plain []string) clusterDiff {
	out := clusterDiff{name: cluster}
	t, err := x.targets.get(cluster, as)
	if err != nil {
		out.err = x.clean(err, plain)
		return out
	}
	df, ok := t.(differ)
	if !ok {
		out.err = fmt.Sprintf("cluster %s cannot dry-run", cluster)
		return out
	}
	objs, err := df.Diff(ctx, set, apply.DiffOptions{Prune: true})
	if err != nil {
		out.err = x.clean(err, plain)
	}
	for _, o := range objs {
		if !o.Changed() {
			out.unchanged++
			continue
		}
		if paths := secret[strings.TrimSuffix(o.Ref, " (recreated)")]; len(paths) > 0 {
			o.MaskFields(paths)
		}
		out.objects = append(out.objects, o)
	}
	return out
}

// render renders d for e as a reconcile would (the cluster's version,
// the source's keys), and returns the set, the decrypted fields by
// object and their values.
func (x *prDiffs) render(ctx context.Context, d *desiredApp, e appfile.Environment) (*apply.Set, map[string][][]string, []string, error) {
	kv, _ := x.versions.get(ctx, firstOr(e.Clusters, ""))
	opts, err := x.secrets.renderOptions(ctx, d.Source, renderOptions(x.opts, d, e, kv))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("render of %s in %s at %s: %w", d.Name, e.Name, pin.Short(d.Snapshot.Commit), err)
	}
	res, err := renderDecrypted(ctx, x.renderer, d.App, e, d.Registry, d.Snapshot.FS(), opts)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("render of %s in %s at %s: %w", d.Name, e.Name, pin.Short(d.Snapshot.Commit), err)
	}
	secret, plain := res.DecryptedFields()
	return policy.Set(res, d.App, e, d.Snapshot.Commit), secret, plain, nil
}

// clean is err as a comment may show it: sanitized (no credentials) and
// without the decrypted values plain.
func (x *prDiffs) clean(err error, plain []string) string {
	msg := sanitize(err, time.Time{}).Message
	if len(plain) > 0 {
		msg = sops.Redact(msg, plain)
	}
	return msg
}
