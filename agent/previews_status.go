package agent

import (
	"slices"
	"time"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/source"
	"github.com/carina-gitops/carina/source/forge"
)

// previewContext is the commit status context of every preview.
const previewContext = "carina/preview"

// statusContext is the commit status context of env: carina/<env>, and
// carina/preview for a preview environment.
func statusContext(env string) string {
	if _, ok := appfile.PreviewNumber(env); ok {
		return previewContext
	}
	return forge.StatusContext(env)
}

// client returns the forge client of source src, nil when it has none.
func (c *commitStatuses) client(src string) *forge.Client {
	if c == nil {
		return nil
	}
	return c.clients[src]
}

// postPreview posts the status of a preview that has no desired app (it
// waits, or cannot be loaded) on the pull request's head.
func (c *commitStatuses) postPreview(src, app, env, sha string, state forge.State, desc string) {
	c.post(&desiredApp{Name: app, Source: src, Snapshot: &source.Snapshot{Commit: sha}}, env, state, desc)
}

// setPreview records a preview env in the status: shown after the app's
// own environments, with its pull request, and why it does not run.
func (s *statusStore) setPreview(app, env string, pv *preview, why string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ar := s.app(app)
	if !slices.Contains(ar.previews, env) {
		ar.previews = append(ar.previews, env)
		slices.Sort(ar.previews)
	}
	er := ar.env(env)
	if why == "" && er.preview != nil && er.preview.Waiting != "" {
		er.lastError = nil
	}
	er.clusters, er.namespace = pv.env.Clusters, pv.env.Namespace
	er.preview = &api.PreviewStatus{Number: pv.pr.Number, Title: pv.pr.Title, Author: pv.pr.Author, Branch: pv.pr.HeadBranch,
		Head: pv.pr.HeadSHA, Waiting: why}
	if why != "" && pv.view == nil {
		er.lastError, er.sync = &api.ErrorStatus{Message: why, Time: at}, api.SyncOutOfSync
	}
}

// forgetPreview drops the status of a preview env.
func (s *statusStore) forgetPreview(app, env string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ar, ok := s.apps[app]
	if !ok {
		return
	}
	ar.previews = slices.DeleteFunc(ar.previews, func(e string) bool { return e == env })
	delete(ar.envs, env)
}

// listed are the envs the status shows: the app's own, those being
// pruned, then its previews.
func (a *appRecord) listed() []string {
	out := slices.Clone(a.envOrder)
	for _, e := range a.previews {
		if !slices.Contains(out, e) && a.envs[e] != nil {
			out = append(out, e)
		}
	}
	return out
}
