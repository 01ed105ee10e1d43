package webhook

import (
	"encoding/json"
	"fmt"
	"net/http"
)

type gitlabProject struct {
	WebURL     string `json:"web_url"`
	GitHTTPURL string `json:"git_http_url"`
	GitSSHURL  string `json:"git_ssh_url"`
}

func (p *gitlabProject) urls() []string {
	if p == nil {
		return nil
	}
	return []string{p.GitHTTPURL, p.GitSSHURL, p.WebURL}
}

type gitlabPayload struct {
	ObjectKind string         `json:"object_kind"`
	Ref        string         `json:"ref"`
	Before     string         `json:"before"`
	After      string         `json:"after"`
	Project    *gitlabProject `json:"project"`
	Attrs      *struct {
		IID          int            `json:"iid"`
		Action       string         `json:"action"`
		SourceBranch string         `json:"source_branch"`
		TargetBranch string         `json:"target_branch"`
		OldRev       string         `json:"oldrev"`
		Source       *gitlabProject `json:"source"`
		LastCommit   struct {
			ID string `json:"id"`
		} `json:"last_commit"`
	} `json:"object_attributes"`
}

func gitlabEvent(h http.Header) string { return h.Get("X-Gitlab-Event") }

// parseGitLab parses a GitLab webhook. The body's object_kind decides;
// the event header only has to be present.
func parseGitLab(event string, body []byte) (Event, bool, error) {
	switch event {
	case "Push Hook", "Tag Push Hook", "Merge Request Hook", "System Hook":
	default:
		return Event{}, false, nil
	}
	var p gitlabPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return Event{}, true, fmt.Errorf("gitlab payload: %w", err)
	}
	switch p.ObjectKind {
	case "push", "tag_push":
		if p.Project == nil {
			return Event{}, true, errNoRepo
		}
		ev := Event{Provider: GitLab, Kind: refKind(p.Ref), Repos: p.Project.urls(),
			Ref: p.Ref, SHA: p.After, Before: p.Before, Deleted: cleanSHA(p.After) == ""}
		return ev, true, ev.finish()
	case "merge_request":
		return gitlabMergeRequest(p)
	}
	return Event{}, false, nil
}

func gitlabMergeRequest(p gitlabPayload) (Event, bool, error) {
	if p.Attrs == nil || p.Project == nil {
		return Event{}, true, fmt.Errorf("gitlab merge request payload lacks object_attributes or project")
	}
	a := p.Attrs
	var action Action
	switch a.Action {
	case "open":
		action = ActionOpened
	case "reopen":
		action = ActionReopened
	case "close":
		action = ActionClosed
	case "merge":
		action = ActionMerged
	case "update":
		// An update without oldrev changed the title, labels or the like.
		if a.OldRev == "" {
			return Event{}, false, nil
		}
		action = ActionSynchronized
	default:
		return Event{}, false, nil
	}
	ev := Event{
		Provider: GitLab, Kind: KindPullRequest, Repos: p.Project.urls(),
		Ref: fmt.Sprintf("refs/merge-requests/%d/head", a.IID), SHA: a.LastCommit.ID,
		PullRequest: &PullRequest{
			Number: a.IID, Action: action,
			HeadRef: branchRef(a.SourceBranch), HeadSHA: a.LastCommit.ID, BaseRef: branchRef(a.TargetBranch),
			HeadRepos: a.Source.urls(),
		},
	}
	return ev, true, ev.finish()
}
