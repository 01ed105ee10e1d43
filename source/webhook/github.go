package webhook

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// githubRepo is the repository object GitHub and Gitea send.
type githubRepo struct {
	FullName string `json:"full_name"`
	HTMLURL  string `json:"html_url"`
	CloneURL string `json:"clone_url"`
	SSHURL   string `json:"ssh_url"`
}

func (r *githubRepo) urls() []string {
	if r == nil {
		return nil
	}
	return []string{r.CloneURL, r.SSHURL, r.HTMLURL}
}

type githubPush struct {
	Ref        string      `json:"ref"`
	Before     string      `json:"before"`
	After      string      `json:"after"`
	Deleted    bool        `json:"deleted"`
	Repository *githubRepo `json:"repository"`
}

type githubBranch struct {
	Ref  string      `json:"ref"`
	SHA  string      `json:"sha"`
	Repo *githubRepo `json:"repo"`
}

type githubPullRequest struct {
	Action      string `json:"action"`
	Number      int    `json:"number"`
	PullRequest *struct {
		Merged bool         `json:"merged"`
		Head   githubBranch `json:"head"`
		Base   githubBranch `json:"base"`
	} `json:"pull_request"`
	Repository *githubRepo `json:"repository"`
}

func githubEvent(h http.Header) string { return h.Get("X-GitHub-Event") }

// parseGitHub parses a GitHub webhook. known is false for events and
// actions that need no wake-up (ping, labels, edits, ...).
func parseGitHub(event string, body []byte) (ev Event, known bool, err error) {
	switch event {
	case "push":
		return parseGitHubPush(GitHub, body)
	case "pull_request":
		var p githubPullRequest
		if err := json.Unmarshal(body, &p); err != nil {
			return Event{}, true, fmt.Errorf("github pull_request payload: %w", err)
		}
		return githubStylePR(GitHub, p, "refs/pull/%d/head", map[string]Action{
			"opened": ActionOpened, "synchronize": ActionSynchronized, "reopened": ActionReopened, "closed": ActionClosed,
		})
	}
	return Event{}, false, nil
}

// parseGitHubPush parses the push payload GitHub and Gitea share.
func parseGitHubPush(p Provider, body []byte) (Event, bool, error) {
	var push githubPush
	if err := json.Unmarshal(body, &push); err != nil {
		return Event{}, true, fmt.Errorf("%s push payload: %w", p, err)
	}
	if push.Repository == nil {
		return Event{}, true, errNoRepo
	}
	ev := Event{
		Provider: p, Kind: refKind(push.Ref), Repos: push.Repository.urls(),
		Ref: push.Ref, SHA: push.After, Before: push.Before,
		Deleted: push.Deleted || cleanSHA(push.After) == "",
	}
	if ev.Deleted {
		ev.SHA = ""
	}
	return ev, true, ev.finish()
}

// githubStylePR turns the pull request payload GitHub and Gitea share into
// an Event; actions missing from actions are not acted on.
func githubStylePR(p Provider, pr githubPullRequest, refFormat string, actions map[string]Action) (Event, bool, error) {
	action, ok := actions[pr.Action]
	if !ok {
		return Event{}, false, nil
	}
	if pr.PullRequest == nil || pr.Repository == nil {
		return Event{}, true, fmt.Errorf("%s pull request payload lacks pull_request or repository", p)
	}
	if action == ActionClosed && pr.PullRequest.Merged {
		action = ActionMerged
	}
	head, base := pr.PullRequest.Head, pr.PullRequest.Base
	ev := Event{
		Provider: p, Kind: KindPullRequest, Repos: pr.Repository.urls(),
		Ref: fmt.Sprintf(refFormat, pr.Number), SHA: head.SHA,
		PullRequest: &PullRequest{
			Number: pr.Number, Action: action,
			HeadRef: branchRef(head.Ref), HeadSHA: head.SHA, BaseRef: branchRef(base.Ref), BaseSHA: base.SHA,
			HeadRepos: head.Repo.urls(),
		},
	}
	return ev, true, ev.finish()
}
