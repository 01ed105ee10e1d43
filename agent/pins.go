package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/source"
	"github.com/carina-gitops/carina/source/pin"
)

// Pinned environments. An environment may pin a revision of the app
// repository in Git: environments/<env>.yaml at the followed branch's
// head, with `revision: <commit or tag>` (carina promote writes it). Its
// apps then deploy what they are at that revision: components, traits,
// overrides and the app's own definitions. Where they deploy (the
// environment's clusters, namespace and service account) stays what the
// head says, so that a cluster removed from an environment is never
// reached again through an old pin.

// pinnedEnv is an environment of an app deployed at a pinned revision.
type pinnedEnv struct {
	// Revision is the pin as written: a commit id or a tag.
	Revision string
	// View is the app as a reconcile of the env sees it: the pinned
	// revision's app, snapshot and definitions, with the head's
	// topology, inputs and release.
	View *desiredApp
}

// forEnv is the desired app a reconcile of env works on: the pinned view
// when the env is pinned, else d itself.
func (d *desiredApp) forEnv(env string) *desiredApp {
	if p := d.Pinned[env]; p != nil {
		return p.View
	}
	return d
}

// pinLoader loads an app source at another revision (catalog.loadRef).
type pinLoader func(ctx context.Context, st *sourceState, ref source.Ref) (*loaded, error)

// applyPins reads the pin of every environment the apps of l use from
// l's snapshot, and points each pinned environment of each app at the
// app as it is at that revision. An app whose pin cannot be read or
// loaded, or that has no such environment there, breaks its file (the
// error names the pin file): it keeps its last good desired state.
func applyPins(ctx context.Context, st *sourceState, l *loaded, loadRef pinLoader) {
	envs := map[string][]*desiredApp{}
	for _, d := range l.apps {
		for _, e := range d.Envs {
			envs[e.Name] = append(envs[e.Name], d)
		}
	}
	fsys := l.snap.FS()
	for _, env := range slices.Sorted(maps.Keys(envs)) {
		file, err := pin.Path("", env)
		if err != nil {
			continue // not a DNS label: never pinned
		}
		p, err := pin.Read(fsys, file)
		if errors.Is(err, pin.ErrNotPinned) {
			continue
		}
		var at *loaded
		if err == nil {
			at, err = loadRef(ctx, st, pinRef(st, p.Revision))
			if err != nil {
				err = fmt.Errorf("environment %s is pinned to %s, which cannot be loaded: %w", env, p.Revision, err)
			}
		}
		for _, d := range envs[env] {
			perr := err
			if perr == nil {
				perr = d.pin(env, p.Revision, at)
			}
			if perr != nil {
				l.breakApp(d, &appfile.Error{Pos: d.App.Pos, Msg: file + ": " + sanitize(perr, time.Time{}).Message})
			}
		}
	}
	l.apps = slices.DeleteFunc(l.apps, func(d *desiredApp) bool { return l.broken[d.App.Pos.File] })
	for _, d := range l.apps {
		if len(d.Pinned) > 0 {
			d.computeRelease()
			for _, p := range d.Pinned {
				p.View.Release = d.Release
			}
		}
	}
}

// pinRef is the ref of st's repository at revision, a commit id or a
// tag.
func pinRef(st *sourceState, revision string) source.Ref {
	ref := st.cfg.SourceRef()
	ref.Branch, ref.Tag, ref.SemVer, ref.TagPrefix, ref.Name, ref.Commit = "", "", "", "", "", ""
	if pin.IsCommit(revision) {
		ref.Commit = revision
	} else {
		ref.Tag = revision
	}
	return ref
}

// pin points env of d at the same app in at, the load of the pinned
// revision, and sets env's inputs to those of the pinned render.
func (d *desiredApp) pin(env, revision string, at *loaded) error {
	i := slices.IndexFunc(at.apps, func(o *desiredApp) bool { return o.Name == d.Name })
	if i < 0 {
		if len(at.errs) > 0 {
			return fmt.Errorf("environment %s is pinned to %s, where application %s does not load: %s", env, revision, d.Name, at.errs.Error())
		}
		return fmt.Errorf("environment %s is pinned to %s, where there is no application %s", env, revision, d.Name)
	}
	old := at.apps[i]
	pe, ok := old.env(env)
	if !ok {
		return fmt.Errorf("environment %s is pinned to %s, where application %s has no environment %s", env, revision, d.Name, env)
	}
	head, _ := d.env(env)
	pe.Clusters, pe.Namespace, pe.ServiceAccount, pe.Step = head.Clusters, head.Namespace, head.ServiceAccount, head.Step
	envJSON, _ := json.Marshal(pe)
	h := sha256.New()
	fmt.Fprintf(h, "pin %s %s\ninputs %s\nenv %s\n", revision, old.Snapshot.Commit, old.Inputs[env], envJSON)
	d.Inputs[env] = "sha256:" + hex.EncodeToString(h.Sum(nil))
	view := *old
	view.Envs = slices.Clone(d.Envs)
	view.Envs[slices.IndexFunc(view.Envs, func(e appfile.Environment) bool { return e.Name == env })] = pe
	view.Inputs, view.Plan, view.Repo = d.Inputs, d.Plan, d.Repo
	if d.Pinned == nil {
		d.Pinned = map[string]*pinnedEnv{}
	}
	d.Pinned[env] = &pinnedEnv{Revision: revision, View: &view}
	return nil
}

// breakApp marks the file of d broken with e: its apps keep their last
// good desired state.
func (l *loaded) breakApp(d *desiredApp, e *appfile.Error) {
	l.errs = append(l.errs, e)
	l.broken[d.App.Pos.File] = true
}
