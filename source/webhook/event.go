package webhook

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/carina-gitops/carina/source"
)

// Provider names a forge, or the generic receiver.
type Provider string

// The providers this package understands.
const (
	GitHub          Provider = "github"
	GitLab          Provider = "gitlab"
	Gitea           Provider = "gitea" // also Forgejo
	BitbucketCloud  Provider = "bitbucket-cloud"
	BitbucketServer Provider = "bitbucket-server"
	Generic         Provider = "generic"
)

// Kind is what happened.
type Kind string

// The kinds of Event.
const (
	KindPush        Kind = "push"
	KindTag         Kind = "tag"
	KindPullRequest Kind = "pull_request"
)

// Action is what happened to a pull (or merge) request.
type Action string

// The pull request actions, the same for every forge.
const (
	ActionOpened       Action = "opened"
	ActionSynchronized Action = "synchronized" // new commits on the head
	ActionReopened     Action = "reopened"
	ActionClosed       Action = "closed" // closed without merging
	ActionMerged       Action = "merged"
)

// PullRequest describes the pull request of a pull request Event.
type PullRequest struct {
	Number  int    `json:"number"`
	Action  Action `json:"action"`
	HeadRef string `json:"headRef"` // refs/heads/feature
	HeadSHA string `json:"headSHA,omitempty"`
	BaseRef string `json:"baseRef"` // refs/heads/main
	BaseSHA string `json:"baseSHA,omitempty"`
	// HeadRepos are the URLs of the repository the head lives in, which
	// differ from Event.Repos for a pull request from a fork.
	HeadRepos []string `json:"headRepos,omitempty"`
}

// Event is a parsed, authenticated webhook. It tells which repository
// changed and how; it is a hint to look, never the state to apply.
type Event struct {
	Provider Provider `json:"provider"`
	Kind     Kind     `json:"kind"`
	// Delivery is the forge's id for this delivery, if it sends one.
	Delivery string `json:"delivery,omitempty"`
	// Repos are URLs of the repository (clone, SSH and web forms), to be
	// matched with source.RepoKey.
	Repos []string `json:"repos"`
	// Ref is the full ref that moved: refs/heads/main, refs/tags/v1.2.3,
	// or the forge's pull request ref (refs/pull/42/head,
	// refs/merge-requests/42/head, refs/pull-requests/42/from) when it
	// has one.
	Ref string `json:"ref"`
	// SHA is the new head, "" when the ref was deleted.
	SHA string `json:"sha,omitempty"`
	// Before is the previous head, when the forge says.
	Before string `json:"before,omitempty"`
	// Deleted is true when the push deleted the ref.
	Deleted bool `json:"deleted,omitempty"`
	// PullRequest is set for KindPullRequest.
	PullRequest *PullRequest `json:"pullRequest,omitempty"`
}

// RepoKeys returns the distinct source.RepoKey values of Repos.
func (e Event) RepoKeys() []string {
	var keys []string
	for _, u := range e.Repos {
		if k := source.RepoKey(u); k != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

const (
	maxFieldLen = 1024
	maxRepos    = 16
)

var errNoRepo = errors.New("payload names no repository")

// finish cleans what a parser produced: it drops URLs and ids that are
// empty, too long or malformed, and fails when no repository is left.
func (e *Event) finish() error {
	e.Repos = cleanURLs(e.Repos)
	if len(e.Repos) == 0 {
		return errNoRepo
	}
	e.Ref = cleanRef(e.Ref)
	e.SHA, e.Before = cleanSHA(e.SHA), cleanSHA(e.Before)
	e.Delivery = clip(e.Delivery, 128)
	if e.Ref == "" {
		return errors.New("payload names no ref")
	}
	if pr := e.PullRequest; pr != nil {
		if pr.Number <= 0 {
			return fmt.Errorf("pull request number %d is not positive", pr.Number)
		}
		pr.HeadRef, pr.BaseRef = cleanRef(pr.HeadRef), cleanRef(pr.BaseRef)
		pr.HeadSHA, pr.BaseSHA = cleanSHA(pr.HeadSHA), cleanSHA(pr.BaseSHA)
		pr.HeadRepos = cleanURLs(pr.HeadRepos)
	}
	return nil
}

func cleanURLs(in []string) []string {
	var out []string
	for _, u := range in {
		u = strings.TrimSpace(u)
		if u == "" || len(u) > maxFieldLen || source.RepoKey(u) == "" || slices.Contains(out, u) {
			continue
		}
		if out = append(out, u); len(out) == maxRepos {
			break
		}
	}
	return out
}

func cleanRef(r string) string {
	if len(r) > maxFieldLen || strings.ContainsFunc(r, func(c rune) bool { return c < ' ' || c == 0x7f }) {
		return ""
	}
	return r
}

// cleanSHA keeps hex ids only (Bitbucket Cloud sends 12-hex short ones)
// and drops the all-zero id forges use for "none".
func cleanSHA(s string) string {
	if len(s) < 7 || len(s) > 64 || strings.Trim(s, "0") == "" {
		return ""
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return ""
		}
	}
	return s
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// refKind says whether a full ref is a tag or a branch push.
func refKind(ref string) Kind {
	if strings.HasPrefix(ref, "refs/tags/") {
		return KindTag
	}
	return KindPush
}

// branchRef returns refs/heads/name, leaving full refs alone.
func branchRef(name string) string {
	if name == "" || strings.HasPrefix(name, "refs/") {
		return name
	}
	return "refs/heads/" + name
}
