package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/internal/egress"
	"github.com/carina-gitops/carina/source/forge"
	"github.com/carina-gitops/carina/source/pin"
)

// commitStatuses posts a commit status per environment (context
// carina/<env>) to the forge of each app source that names one: pending
// while a commit deploys, success once applied and healthy, failure with
// the sanitized error. Posting runs on its own goroutine so that a slow
// forge never holds a worker; a status equal to the last one posted for
// that commit and context is not posted again, and when the buffer is
// full a status is dropped and logged.
type commitStatuses struct {
	log     *slog.Logger
	clients map[string]*forge.Client // by source
	links   map[string]string        // by source: the agent API's base URL
	ch      chan statusPost

	mu   sync.Mutex
	last map[string]string // sha + context -> state + description
}

type statusPost struct {
	src, sha string
	st       forge.Status
}

// statusBuffer bounds the statuses waiting to be posted; maxLastStatuses
// bounds the memory of what was posted.
const (
	statusBuffer    = 1024
	maxLastStatuses = 4096
)

// newCommitStatuses builds a forge client for each app source with a
// forge section. It reads the token files, and nothing on the network.
func newCommitStatuses(cfg *config.Config, log *slog.Logger, policy *egress.Policy) (*commitStatuses, error) {
	c := &commitStatuses{log: log, clients: map[string]*forge.Client{}, links: map[string]string{},
		ch: make(chan statusPost, statusBuffer), last: map[string]string{}}
	for _, s := range cfg.Sources.Apps {
		if s.Forge == nil {
			continue
		}
		repo, err := s.ForgeRepo()
		if err != nil {
			return nil, fmt.Errorf("source %s: forge: %w", s.Name, err)
		}
		fc, err := forge.New(forge.Options{Kind: forge.Kind(s.Forge.Kind), BaseURL: s.Forge.APIURL, Repo: repo, TokenFile: s.Forge.TokenFile, Egress: policy})
		if err != nil {
			return nil, fmt.Errorf("source %s: forge: %w", s.Name, err)
		}
		c.clients[s.Name] = fc
		c.links[s.Name] = strings.TrimRight(s.Forge.StatusURL, "/")
	}
	return c, nil
}

// enabled reports whether any source posts statuses.
func (c *commitStatuses) enabled() bool { return c != nil && len(c.clients) > 0 }

// run posts statuses until ctx ends.
func (c *commitStatuses) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-c.ch:
			pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			err := c.clients[p.src].SetStatus(pctx, p.sha, p.st)
			cancel()
			if err != nil && ctx.Err() == nil {
				c.forget(p)
				c.log.Warn("commit status not posted", "source", p.src, "commit", p.sha, "context", p.st.Context, "state", string(p.st.State),
					"error", sanitize(err, time.Time{}).Message)
			}
		}
	}
}

// post queues the status of env of d's commit, unless it is the one
// posted last. An oci:// source has no commit to post to.
func (c *commitStatuses) post(d *desiredApp, env string, state forge.State, desc string) {
	if !c.enabled() || c.clients[d.Source] == nil || !pin.IsCommit(d.Snapshot.Commit) {
		return
	}
	st := forge.Status{Context: statusContext(env), State: state, Description: clipStatus(desc)}
	if base := c.links[d.Source]; base != "" {
		st.TargetURL = base + "/api/v1/apps/" + url.PathEscape(d.Name) + "/envs/" + url.PathEscape(env)
	}
	p := statusPost{src: d.Source, sha: d.Snapshot.Commit, st: st}
	key, val := p.sha+" "+st.Context, string(st.State)+" "+st.Description
	c.mu.Lock()
	if c.last[key] == val {
		c.mu.Unlock()
		return
	}
	if len(c.last) >= maxLastStatuses {
		clear(c.last)
	}
	c.last[key] = val
	c.mu.Unlock()
	select {
	case c.ch <- p:
	default:
		c.forget(p)
		c.log.Warn("commit status dropped: too many waiting", "source", p.src, "commit", p.sha, "context", st.Context)
	}
}

// forget drops the memory of a status that was not posted, so that the
// next one like it is.
func (c *commitStatuses) forget(p statusPost) {
	c.mu.Lock()
	delete(c.last, p.sha+" "+p.st.Context)
	c.mu.Unlock()
}

// statusReason is what the commit status of a failure says: the first
// line of msg, the sanitized error, or, when that line is too long for
// a status (GitHub keeps 140 characters) and err holds the failure of
// one object, that object's failure, which carries the API server's
// answer (forbidden, invalid, …) that a reader needs first. redact
// removes decrypted values.
func statusReason(err error, msg string, redact func(string) string) string {
	line, _, _ := strings.Cut(msg, "\n")
	var oe *apply.ObjectError
	if len([]rune(line)) <= 140 || !errors.As(err, &oe) || oe.Err == nil {
		return msg
	}
	text := fmt.Sprintf("%s %s: %s", oe.ID, oe.Op, oe.Err)
	return redact(sanitize(errors.New(text), time.Time{}).Message)
}

// clipStatus keeps a description to its first line and 140 characters
// (GitHub's limit).
func clipStatus(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if r := []rune(s); len(r) > 140 {
		s = string(r[:139]) + "…"
	}
	return s
}
