// Package source turns a Git repository reference into an immutable Snapshot
// (commit, ref, and a read-only file tree confined to the repository root),
// polls references for changes, and receives forge webhooks that wake the
// matching pollers. It never carries desired state from a webhook payload.
//
// It owns, and only it: talking to Git remotes (with go-git; it never runs
// the git binary), the on-disk repository cache, snapshot trees, URL safety
// and the redaction of credentials from everything it returns. It returns
// data and never logs; the agent logs and records metrics from Update and
// webhook.Result values.
//
// # Fetching
//
//	f, err := source.NewFetcher(source.Options{CacheDir: "/var/cache/carina"})
//	snap, err := f.Fetch(ctx, source.Ref{
//		URL:    "https://github.com/acme/shop-deploy.git",
//		Branch: "main",
//		Path:   "apps/shop",
//		Auth:   source.Auth{Username: "x-access-token", PasswordFile: "/secrets/git/token"},
//	})
//	data, err := fs.ReadFile(snap.FS(), "apps/shop/app.cue")
//
// A Ref names one of: the default branch, a Branch, a Tag, a SemVer range
// over tags (with an optional TagPrefix for monorepos), a Commit, or any
// ref by Name (refs/pull/42/head). Auth names files or environment
// variables, never values; Ref.String, Auth.String and their LogValue never
// print a credential.
//
// Fetch first asks the remote for its refs (ls-remote). When a tree for the
// resolved commit is already on disk it returns at once, so a poll that
// finds nothing new costs one round trip and no download. Otherwise it
// fetches a depth-1 pack into the repository's cache (asking for a thin
// pack against what the cache holds), patches a copy of the last tree
// (directories and hard links) into the new commit's tree where their
// directories differ, and returns. The copy is the one Fetcher.Prepare
// made while the source was idle (the agent calls it two seconds after
// a new snapshot), or else one made while the pack downloads. A full
// pack (the first fetch) is indexed by the cache itself, resolving delta
// chains base first so that only one chain's bases are held in memory,
// and its tree is written in one walk over the chains; thin packs, and
// packs it cannot index, go through go-git. A corrupt cache is removed
// and fetched again; a cache is re-cloned after Options.MaxCacheCommits
// fetches to keep it small.
//
// # Snapshots on disk
//
// Snapshot.Dir is the on-disk root of the tree, under
// CacheDir/trees/<repo key>/<commit>. Trees are immutable and read-only
// (files 0444 or 0555, directories 0555), shared by every Snapshot of the
// same commit, and unchanged files are hard-linked between trees. A worker
// process can read Dir directly; it should read it through DirFS to keep
// the same confinement. Snapshot.FS (and DirFS) refuse to leave the root:
// ".." paths are invalid, symlinks that escape fail with ErrOutsideRoot
// when read, and FIFOs, devices and sockets fail with ErrNotRegular without
// blocking. A tree stays on disk while it is among the Options.KeepSnapshots
// most recently used of its repository or was used within
// Options.SnapshotTTL; a Poller keeps its last good tree in use.
//
// Layout of CacheDir:
//
//	repos/<key>/            bare, shallow go-git repository per URL
//	trees/<key>/<commit>/   snapshot tree
//	trees/<key>/<commit>.json  commit time, message, file count and size
//	locks/<key>.lock        flock shared by processes using the directory
//
// # Limits and errors
//
// Options.Limits bound the total size of a snapshot's files (and of any one
// download), its file count, and the time of a fetch (Ref.Timeout
// overrides). Crossing one returns a *LimitError (errors.Is(err, ErrLimit))
// and removes the repository's cache. Errors match ErrInvalidRef (the Ref
// can never work: do not retry), ErrAuth, ErrHostKey and ErrNotFound where
// they apply, and never contain credentials or URL query strings.
//
// # URL safety
//
// CheckURL (and so Fetch) refuses file:// and local paths unless
// Options.AllowFile is set, git's transport::address forms (ext::, fd::),
// anything beginning with '-', credentials and query strings in the URL,
// and control characters. Credentials are never sent after a redirect to
// another host, and HTTPS is never redirected to HTTP. SSH always checks
// the host key against Auth.KnownHostsFile. Every connection is checked
// against Options.Egress (internal/egress) at dial time, on the address
// really connected to, for HTTP(S) (redirects included) and SSH; a git://
// host is checked when it is resolved. The same holds for the transport
// GoGitAuth returns, which source/pin pushes through.
//
// # Polling
//
// A Poller polls one Ref on an interval with jitter, backs off
// exponentially on failure while keeping the last good Snapshot, and polls
// at once when woken. When the head moves, Fetcher.Compare decides whether
// the new head descends from the old one (fetching the history since the
// old head when the shallow cache cannot tell); a force-push, to older or
// to different history, is reported as an Update of kind
// UpdateRewritten, and the new head is used.
//
//	var pollers source.Pollers
//	p, err := source.NewPoller(f, ref, source.PollerOptions{OnUpdate: enqueue})
//	pollers.Add(p)
//	go p.Run(ctx)
//	pollers.Wake("git@github.com:acme/shop-deploy.git") // from a webhook
//
// Webhooks live in the subpackage source/webhook; RepoKey is the
// scheme-independent key both sides use to match a payload to sources.
package source
