package webhook

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// giteaEvent reads the event name Gitea sends, or Forgejo's own header.
func giteaEvent(h http.Header) string {
	if e := h.Get("X-Gitea-Event"); e != "" {
		return e
	}
	return h.Get("X-Forgejo-Event")
}

// parseGitea parses a Gitea or Forgejo webhook. Their payloads follow
// GitHub's, with "synchronized" for new commits on a pull request. A tag
// push arrives as a push to refs/tags/...; the separate "create" event is
// not needed.
func parseGitea(event string, body []byte) (Event, bool, error) {
	switch event {
	case "push":
		return parseGitHubPush(Gitea, body)
	case "pull_request":
		var p githubPullRequest
		if err := json.Unmarshal(body, &p); err != nil {
			return Event{}, true, fmt.Errorf("gitea pull_request payload: %w", err)
		}
		return githubStylePR(Gitea, p, "refs/pull/%d/head", map[string]Action{
			"opened": ActionOpened, "synchronized": ActionSynchronized, "reopened": ActionReopened, "closed": ActionClosed,
		})
	}
	return Event{}, false, nil
}
