package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/kubernetes"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/agent/metrics"
	"github.com/carina-gitops/carina/internal/panics"
	"github.com/carina-gitops/carina/source"
	"github.com/carina-gitops/carina/source/webhook"
)

// probeClusters checks in the background that every cluster answers;
// readiness waits for it.
func (a *Agent) probeClusters(ctx context.Context, clients map[string]kubernetes.Interface) {
	a.reachable.Store(len(clients) == 0)
	if len(clients) == 0 {
		return
	}
	go func() {
		for ctx.Err() == nil {
			ok := true
			for name, c := range clients {
				if _, err := c.Discovery().ServerVersion(); err != nil {
					a.log.Warn("cluster unreachable", "cluster", name, "error", sanitize(err, time.Time{}).Message)
					ok = false
				}
			}
			if ok {
				a.reachable.Store(true)
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
			}
		}
	}()
}

// Ready reports why the agent is not ready, or nil.
func (a *Agent) Ready() error {
	switch {
	case !a.reachable.Load():
		return errors.New("clusters are not reachable yet")
	case !a.feed.snapped.Load():
		return errors.New("the first snapshot of every source is not in yet")
	}
	return nil
}

// handler builds the HTTP handler: API, health, metrics and webhooks.
func (a *Agent) handler(opts RunOptions) (http.Handler, error) {
	reg := opts.Registry
	if reg == nil {
		var err error
		if reg, err = metrics.NewRegistry(a.rec); err != nil {
			return nil, err
		}
	}
	hooks, err := a.hooks()
	if err != nil {
		return nil, err
	}
	var token []byte
	if t := a.cfg.Server.API; t.TokenFile != "" || t.TokenEnv != "" {
		if token, err = config.ReadSecret(t.TokenFile, t.TokenEnv); err != nil {
			return nil, fmt.Errorf("server.api: %w", err)
		}
	}
	return api.NewHandler(api.Options{
		Status: a.Status(), Control: a, Token: token, AllowWrites: a.cfg.Server.API.AllowWrites, Ready: a.Ready,
		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), Hooks: hooks,
	})
}

// hooks builds one receiver per configured webhook; they share a queue
// whose events wake the matching sources. The queue knows the sources'
// repositories: a webhook of another repository takes no place in it
// (answered 202, counted as result="unwatched"), and each source's
// repository has a push key of its own that a flood of others cannot
// take.
func (a *Agent) hooks() (map[string]http.Handler, error) {
	if len(a.cfg.Webhooks) == 0 {
		return nil, nil
	}
	qo := webhook.DefaultQueueOptions()
	qo.Watched = watchedRepos(a.cfg)
	q := webhook.NewQueue(func(_ context.Context, ev webhook.Event) {
		defer func() {
			if v := recover(); v != nil {
				notePanic(a.log, a.rec, metrics.PanicWebhook, panics.From(metrics.PanicWebhook, v))
			}
		}()
		n := a.WakeRepos(ev.Repos...)
		if ev.Kind == webhook.KindPullRequest {
			n += a.previews.wake(ev.RepoKeys())
			a.log.Info("pull request webhook: previews woken", "provider", string(ev.Provider), "ref", ev.Ref)
		}
		a.log.Debug("webhook delivered", "provider", string(ev.Provider), "ref", ev.Ref, "woken", n)
	}, qo)
	a.hookQueue = q
	out := map[string]http.Handler{}
	for _, w := range a.cfg.Webhooks {
		secret, err := config.ReadSecret(w.SecretFile, w.SecretEnv)
		if err != nil {
			return nil, fmt.Errorf("webhook %s: %w", w.Path, err)
		}
		o := webhook.DefaultOptions(webhook.Provider(w.Provider))
		o.Secret = secret
		o.OnResult = func(r webhook.Result) {
			a.rec.Webhook(string(r.Provider), r.EventName, string(r.Outcome))
			if r.Outcome == webhook.OutcomeUnwatched && r.Event != nil && len(r.Event.Repos) > 0 {
				a.log.Debug("webhook for a repository no source watches: dropped", "provider", string(r.Provider),
					"repository", source.Redact(r.Event.Repos[0]), "ref", r.Event.Ref)
			}
		}
		o.OnPanic = func(p *panics.Error) { notePanic(a.log.With("webhook", w.Path), a.rec, metrics.PanicWebhook, p) }
		if a.hookOptions != nil {
			a.hookOptions(&o)
		}
		h, err := newHookHandler(q, o)
		if err != nil {
			return nil, err
		}
		out[w.Path] = h
	}
	return out, nil
}

// watchedRepos are the repository keys of every source, never nil.
func watchedRepos(cfg *config.Config) []string {
	keys := []string{}
	for _, s := range append(append([]config.Source(nil), cfg.Sources.Apps...), cfg.Sources.Capabilities...) {
		if k := source.RepoKey(s.URL); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// WakeRepos wakes the sources of the repositories (webhooks call it) and
// reports how many it woke.
func (a *Agent) WakeRepos(urls ...string) int {
	keys := map[string]bool{}
	for _, u := range urls {
		if k := source.RepoKey(u); k != "" {
			keys[k] = true
		}
	}
	return a.catalog.wake(keys)
}

// newHookHandler builds the receiver of one provider: a registry
// receiver for distribution and registry-generic (their events name
// "oci://host/repo", whose RepoKey is the OCI poller's key), a forge
// receiver otherwise.
func newHookHandler(q *webhook.Queue, o webhook.Options) (http.Handler, error) {
	switch o.Provider {
	case webhook.Distribution, webhook.RegistryGeneric:
		return webhook.NewRegistryHandler(q, o)
	}
	return webhook.NewHandler(q, o)
}
