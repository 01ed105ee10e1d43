package webhook

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

func bitbucketEvent(h http.Header) string { return h.Get("X-Event-Key") }

// bbCloudRepo is a Bitbucket Cloud repository; payloads carry its web
// link, from which both clone forms follow.
type bbCloudRepo struct {
	FullName string `json:"full_name"`
	Links    struct {
		HTML struct {
			Href string `json:"href"`
		} `json:"html"`
	} `json:"links"`
}

func (r *bbCloudRepo) urls() []string {
	if r == nil || r.Links.HTML.Href == "" {
		return nil
	}
	web := r.Links.HTML.Href
	out := []string{web + ".git", web}
	if u, err := url.Parse(web); err == nil && u.Host != "" {
		out = append(out, "git@"+u.Hostname()+":"+strings.Trim(u.Path, "/")+".git")
	}
	return out
}

type bbCloudRefState struct {
	Type   string `json:"type"` // branch, tag, annotated_tag
	Name   string `json:"name"`
	Target struct {
		Hash string `json:"hash"`
	} `json:"target"`
}

type bbCloudPush struct {
	Push struct {
		Changes []struct {
			Old    *bbCloudRefState `json:"old"`
			New    *bbCloudRefState `json:"new"`
			Closed bool             `json:"closed"`
		} `json:"changes"`
	} `json:"push"`
	Repository *bbCloudRepo `json:"repository"`
}

type bbCloudEnd struct {
	Branch struct {
		Name string `json:"name"`
	} `json:"branch"`
	Commit struct {
		Hash string `json:"hash"`
	} `json:"commit"`
	Repository *bbCloudRepo `json:"repository"`
}

type bbCloudPR struct {
	PullRequest *struct {
		ID          int        `json:"id"`
		Source      bbCloudEnd `json:"source"`
		Destination bbCloudEnd `json:"destination"`
	} `json:"pullrequest"`
	Repository *bbCloudRepo `json:"repository"`
}

// parseBitbucketCloud parses a Bitbucket Cloud webhook. A push with
// several changes is reported by its first change; any change wakes the
// same sources.
func parseBitbucketCloud(event string, body []byte) (Event, bool, error) {
	actions := map[string]Action{
		"pullrequest:created": ActionOpened, "pullrequest:updated": ActionSynchronized,
		"pullrequest:fulfilled": ActionMerged, "pullrequest:rejected": ActionClosed,
	}
	if event == "repo:push" {
		return bitbucketCloudPush(body)
	}
	action, ok := actions[event]
	if !ok {
		return Event{}, false, nil
	}
	var p bbCloudPR
	if err := json.Unmarshal(body, &p); err != nil {
		return Event{}, true, fmt.Errorf("bitbucket-cloud %s payload: %w", event, err)
	}
	if p.PullRequest == nil {
		return Event{}, true, fmt.Errorf("bitbucket-cloud %s payload lacks pullrequest", event)
	}
	src, dst := p.PullRequest.Source, p.PullRequest.Destination
	ev := Event{
		Provider: BitbucketCloud, Kind: KindPullRequest, Repos: p.Repository.urls(),
		// Bitbucket Cloud has no fetchable pull request ref.
		Ref: branchRef(src.Branch.Name), SHA: src.Commit.Hash,
		PullRequest: &PullRequest{
			Number: p.PullRequest.ID, Action: action,
			HeadRef: branchRef(src.Branch.Name), HeadSHA: src.Commit.Hash,
			BaseRef: branchRef(dst.Branch.Name), BaseSHA: dst.Commit.Hash,
			HeadRepos: src.Repository.urls(),
		},
	}
	return ev, true, ev.finish()
}

func bitbucketCloudPush(body []byte) (Event, bool, error) {
	var p bbCloudPush
	if err := json.Unmarshal(body, &p); err != nil {
		return Event{}, true, fmt.Errorf("bitbucket-cloud repo:push payload: %w", err)
	}
	if len(p.Push.Changes) == 0 {
		return Event{}, true, fmt.Errorf("bitbucket-cloud repo:push payload has no changes")
	}
	c := p.Push.Changes[0]
	ev := Event{Provider: BitbucketCloud, Repos: p.Repository.urls()}
	state := c.New
	if state == nil {
		state, ev.Deleted = c.Old, true
	} else {
		ev.SHA = state.Target.Hash
	}
	if state == nil {
		return Event{}, true, fmt.Errorf("bitbucket-cloud repo:push change has neither old nor new")
	}
	if c.Old != nil {
		ev.Before = c.Old.Target.Hash
	}
	switch state.Type {
	case "tag", "annotated_tag":
		ev.Kind, ev.Ref = KindTag, "refs/tags/"+state.Name
	default:
		ev.Kind, ev.Ref = KindPush, branchRef(state.Name)
	}
	return ev, true, ev.finish()
}

// bbServerRepo is a Bitbucket Server (Data Center) repository, whose
// links list its clone URLs.
type bbServerRepo struct {
	Links struct {
		Clone []struct {
			Href string `json:"href"`
		} `json:"clone"`
		Self []struct {
			Href string `json:"href"`
		} `json:"self"`
	} `json:"links"`
}

func (r *bbServerRepo) urls() []string {
	if r == nil {
		return nil
	}
	var out []string
	for _, c := range r.Links.Clone {
		out = append(out, c.Href)
	}
	return out
}

type bbServerRef struct {
	ID           string        `json:"id"`
	LatestCommit string        `json:"latestCommit"`
	Repository   *bbServerRepo `json:"repository"`
}

type bbServerPayload struct {
	Repository *bbServerRepo `json:"repository"`
	Changes    []struct {
		Ref struct {
			ID   string `json:"id"`
			Type string `json:"type"` // BRANCH, TAG
		} `json:"ref"`
		FromHash string `json:"fromHash"`
		ToHash   string `json:"toHash"`
		Type     string `json:"type"` // ADD, UPDATE, DELETE
	} `json:"changes"`
	PullRequest *struct {
		ID      int         `json:"id"`
		FromRef bbServerRef `json:"fromRef"`
		ToRef   bbServerRef `json:"toRef"`
	} `json:"pullRequest"`
}

// parseBitbucketServer parses a Bitbucket Server (Data Center) webhook.
func parseBitbucketServer(event string, body []byte) (Event, bool, error) {
	actions := map[string]Action{
		"pr:opened": ActionOpened, "pr:from_ref_updated": ActionSynchronized,
		"pr:merged": ActionMerged, "pr:declined": ActionClosed, "pr:deleted": ActionClosed,
	}
	action, isPR := actions[event]
	if !isPR && event != "repo:refs_changed" {
		return Event{}, false, nil
	}
	var p bbServerPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return Event{}, true, fmt.Errorf("bitbucket-server %s payload: %w", event, err)
	}
	if !isPR {
		if len(p.Changes) == 0 {
			return Event{}, true, fmt.Errorf("bitbucket-server repo:refs_changed payload has no changes")
		}
		c := p.Changes[0]
		ev := Event{Provider: BitbucketServer, Kind: refKind(c.Ref.ID), Repos: p.Repository.urls(),
			Ref: c.Ref.ID, SHA: c.ToHash, Before: c.FromHash, Deleted: c.Type == "DELETE"}
		if ev.Deleted {
			ev.SHA = ""
		}
		return ev, true, ev.finish()
	}
	if p.PullRequest == nil {
		return Event{}, true, fmt.Errorf("bitbucket-server %s payload lacks pullRequest", event)
	}
	pr := p.PullRequest
	ev := Event{
		Provider: BitbucketServer, Kind: KindPullRequest, Repos: pr.ToRef.Repository.urls(),
		Ref: fmt.Sprintf("refs/pull-requests/%d/from", pr.ID), SHA: pr.FromRef.LatestCommit,
		PullRequest: &PullRequest{
			Number: pr.ID, Action: action,
			HeadRef: pr.FromRef.ID, HeadSHA: pr.FromRef.LatestCommit,
			BaseRef: pr.ToRef.ID, BaseSHA: pr.ToRef.LatestCommit,
			HeadRepos: pr.FromRef.Repository.urls(),
		},
	}
	return ev, true, ev.finish()
}
