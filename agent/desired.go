package agent

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/agent/workflow"
	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/capabilities"
	"github.com/carina-gitops/carina/render"
	"github.com/carina-gitops/carina/source"
)

// desiredApp is what Git says about one application at one snapshot.
//
// A desiredApp is immutable once loaded: the catalog replaces it as a
// whole, and a reconcile may keep using the one it got.
type desiredApp struct {
	Name   string
	Source string
	// Repo is the source's repository key (sourceRepo), recorded in
	// inventories.
	Repo     string
	Snapshot *source.Snapshot
	App      *appfile.Application
	Envs     []appfile.Environment
	Plan     workflow.Plan
	Registry *capabilities.Registry
	// Strict is the source's strict: KubeVela's warnings are render
	// errors.
	Strict bool
	// Inputs is the digest of everything a render of the env reads from
	// Git and the configuration: the files under the app's directory,
	// the definitions it uses, the environment and strict. Equal inputs
	// render equal objects for the same cluster version (which the
	// reconciler compares on its own: see observe).
	Inputs map[string]string
	// Release is the digest of every env's inputs and the workflow: a new
	// release starts the workflow over.
	Release string
	// Pinned are the environments pinned to another revision (pins.go).
	Pinned map[string]*pinnedEnv
	// PullRequest is what a preview's view renders as
	// context.pullRequest; nil for every other app.
	PullRequest *render.PullRequest
}

// env returns the named environment.
func (d *desiredApp) env(name string) (appfile.Environment, bool) {
	for _, e := range d.Envs {
		if e.Name == name {
			return e, true
		}
	}
	return appfile.Environment{}, false
}

// fileDigests hashes every regular file of fsys once, by path. A file
// that cannot be read (a symbolic link out of the repository, a FIFO)
// gets the error as its digest: it belongs to that file only, and the
// load or render of the app that uses it reports it.
func fileDigests(ctx context.Context, fsys fs.FS, maxFiles int) (map[string]string, error) {
	out := map[string]string{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.IsDir() && !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			out[p] = "not a regular file: " + d.Type().String()
			return nil
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return fs.SkipDir
			}
			return nil
		}
		if len(out) >= maxFiles {
			return fmt.Errorf("repository has more than %d files", maxFiles)
		}
		out[p] = fileDigest(fsys, p)
		return nil
	})
	return out, err
}

// fileDigest hashes one file, or names why it cannot be read.
func fileDigest(fsys fs.FS, p string) string {
	f, err := fsys.Open(p)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "unreadable: " + err.Error()
	}
	return hex.EncodeToString(h.Sum(nil))
}

// dirDigest hashes the files under dir ("." for all).
func dirDigest(files map[string]string, dir string) string {
	prefix := ""
	if dir != "" && dir != "." {
		prefix = strings.TrimSuffix(dir, "/") + "/"
	}
	var keys []string
	for p := range files {
		if strings.HasPrefix(p, prefix) {
			keys = append(keys, p)
		}
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s %s\n", k, files[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// defsDigest hashes the definitions the app and env use, so that a
// change in a capability repository re-renders only the apps using a
// changed definition.
func defsDigest(reg *capabilities.Registry, app *appfile.Application, env appfile.Environment) string {
	type ref struct {
		kind capabilities.Kind
		name string
	}
	var refs []ref
	for _, c := range app.Components {
		refs = append(refs, ref{capabilities.KindComponent, c.Type})
		for _, t := range c.Traits {
			refs = append(refs, ref{capabilities.KindTrait, t.Type})
		}
	}
	for _, p := range app.Policies {
		refs = append(refs, ref{capabilities.KindPolicy, p.Type})
	}
	for _, p := range env.Overrides {
		refs = append(refs, ref{capabilities.KindPolicy, p.Type})
	}
	h := sha256.New()
	for _, r := range refs {
		d, err := reg.Get(r.kind, r.name)
		if err != nil {
			fmt.Fprintf(h, "%s %s missing\n", r.kind, r.name)
			continue
		}
		fmt.Fprintf(h, "%s %s %s\n", r.kind, r.name, d.Digest)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// computeInputs fills Inputs and Release.
func (d *desiredApp) computeInputs(files map[string]string) {
	d.Inputs = make(map[string]string, len(d.Envs))
	files0 := dirDigest(files, d.App.Dir)
	for _, e := range d.Envs {
		envJSON, _ := json.Marshal(e)
		h := sha256.New()
		fmt.Fprintf(h, "files %s\ndefs %s\nenv %s\n", files0, defsDigest(d.Registry, d.App, e), envJSON)
		if d.Strict {
			fmt.Fprintf(h, "strict\n")
		}
		d.Inputs[e.Name] = "sha256:" + hex.EncodeToString(h.Sum(nil))
	}
	d.computeRelease()
}

// computeRelease fills Release from Inputs and the workflow.
func (d *desiredApp) computeRelease() {
	rel := sha256.New()
	for _, e := range d.Envs {
		fmt.Fprintf(rel, "%s %s\n", e.Name, d.Inputs[e.Name])
	}
	wf, _ := json.Marshal(d.App.Workflow)
	rel.Write(wf)
	d.Release = "sha256:" + hex.EncodeToString(rel.Sum(nil))[:32]
}

// loaded is one load of an app source's snapshot.
type loaded struct {
	snap *source.Snapshot
	// apps are the applications of the files that loaded.
	apps []*desiredApp
	// errs are the problems of the broken files, sorted by position; the
	// apps defined in them keep their last good desired state.
	errs appfile.ErrorList
	// broken are the files errs name.
	broken map[string]bool
	// gone names the source's path when the snapshot no longer has it:
	// the load holds no app, and the mass-deletion guard decides.
	gone string
}

// loadApps discovers the applications of an app source's snapshot and
// derives their environments, plans and inputs. A broken application
// file (appfile.LoadEach), or an app of it whose environments are
// invalid, only leaves that file's apps out; the error is an incomplete
// walk or a failure that names no file.
// An environment that names no cluster deploys to defaultCluster, as
// KubeVela deploys to the local cluster.
func loadApps(ctx context.Context, src config.Source, snap *source.Snapshot, reg *capabilities.Registry, maxFiles int, defaultCluster string) (*loaded, error) {
	name := src.Name
	fsys := snap.FS()
	dir := snap.Path
	if dir == "" {
		dir = "."
	}
	if _, err := fs.Stat(fsys, path.Clean(dir)); errors.Is(err, fs.ErrNotExist) {
		return &loaded{snap: snap, broken: map[string]bool{}, gone: path.Clean(dir)}, nil
	}
	res, err := appfile.LoadEach(fsys, path.Clean(dir), appfile.DefaultLoadOptions())
	if err != nil {
		return nil, err
	}
	files, err := fileDigests(ctx, fsys, maxFiles)
	if err != nil {
		return nil, fmt.Errorf("source %s at %s: %w", name, snap.Revision(), err)
	}
	l := &loaded{snap: snap, errs: res.Errors, broken: map[string]bool{}}
	for _, f := range res.Broken {
		l.broken[f] = true
	}
	out := make([]*desiredApp, 0, len(res.Apps))
	for _, a := range res.Apps {
		envs, err := appfile.Environments(a)
		if err != nil {
			var list appfile.ErrorList
			if ok := asList(err, &list); !ok {
				return nil, err
			}
			l.errs = append(l.errs, list...)
			l.broken[a.Pos.File] = true
			for _, e := range list {
				l.broken[e.Pos.File] = true
			}
			continue
		}
		for i := range envs {
			if len(envs[i].Clusters) == 0 {
				envs[i].Clusters = []string{defaultCluster}
			}
		}
		d := &desiredApp{Name: a.Name, Source: name, Repo: sourceRepo(src), Snapshot: snap, App: a, Envs: envs, Plan: workflow.NewPlan(a, envs),
			Registry: reg, Strict: src.Strict}
		d.computeInputs(files)
		out = append(out, d)
	}
	// An app whose environments are invalid breaks its file, as a parse
	// error would: the other apps of the file keep their state too.
	l.apps = slices.DeleteFunc(out, func(d *desiredApp) bool { return l.broken[d.App.Pos.File] })
	slices.SortStableFunc(l.errs, func(x, y *appfile.Error) int {
		return cmp.Or(cmp.Compare(x.Pos.File, y.Pos.File), cmp.Compare(x.Pos.Line, y.Pos.Line), cmp.Compare(x.Pos.Col, y.Pos.Col))
	})
	return l, nil
}
