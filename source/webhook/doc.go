// Package webhook receives forge webhooks and turns them into wake-ups for
// source pollers. It owns signature checks, payload parsing into a typed
// Event, and a bounded queue that coalesces floods; it never takes desired
// state from a payload: an Event only says which repository to look at.
//
// Providers and how each request is authenticated (a valid signature is
// always required, compared in constant time):
//
//	github            X-Hub-Signature-256: sha256=HMAC-SHA256(secret, body)
//	gitlab            X-Gitlab-Token: secret
//	gitea (Forgejo)   X-Gitea-Signature (or X-Forgejo-Signature): HMAC-SHA256 hex
//	bitbucket-cloud   X-Hub-Signature: sha256=HMAC-SHA256(secret, body)
//	bitbucket-server  X-Hub-Signature: sha256=HMAC-SHA256(secret, body)
//	generic           X-Signature-256: sha256=HMAC-SHA256(secret, body)
//
// Responses: 202 accepted (or ignored: an event or action this package
// does not act on; or unwatched: a repository no source watches, when the
// queue knows the watched ones), 400 malformed payload, 401 bad or missing signature
// (nothing is queued), 405 not a POST, 408 body too slow, 413 body over
// 3 MiB, 503 queue full (with Retry-After).
//
// Wiring, as the agent does it:
//
//	var pollers source.Pollers // each source.Poller is added here
//	qo := webhook.DefaultQueueOptions()
//	qo.Watched = []string{source.RepoKey(ref.URL)} // every source's repository
//	q := webhook.NewQueue(func(ctx context.Context, ev webhook.Event) {
//		pollers.Wake(ev.Repos...)
//	}, qo)
//	go q.Run(ctx)
//	h, err := webhook.NewHandler(q, webhook.Options{Provider: webhook.GitHub, Secret: secret})
//	mux.Handle("POST /hooks/github", h)
//	srv := &http.Server{Handler: mux}
//	webhook.ConfigureServer(srv) // header and read timeouts
package webhook
