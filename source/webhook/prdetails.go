package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// PullRequestDetails are what a preview policy filters on, beyond the
// Event: who opened the pull request, its title and labels, and whether
// its head lives in a fork. They come from the same verified body.
type PullRequestDetails struct {
	Number     int      `json:"number"`
	Action     Action   `json:"action"`
	HeadSHA    string   `json:"headSHA,omitempty"`
	HeadBranch string   `json:"headBranch"` // without refs/heads/
	BaseBranch string   `json:"baseBranch"`
	Fork       bool     `json:"fork"`
	Labels     []string `json:"labels,omitempty"`
	Author     string   `json:"author,omitempty"`
	Title      string   `json:"title,omitempty"`
}

const maxLabels = 100

// ParsePullRequestDetails parses a pull request webhook of GitHub, GitLab
// or Gitea, whose signature was verified, into its details. event is the
// event header (X-GitHub-Event, X-Gitlab-Event, X-Gitea-Event). An event
// or action that is not a pull request change is an error.
func ParsePullRequestDetails(p Provider, event string, body []byte) (PullRequestDetails, error) {
	prov, ok := providers[p]
	if !ok || (p != GitHub && p != GitLab && p != Gitea) {
		return PullRequestDetails{}, fmt.Errorf("pull request details: provider %q is not github, gitlab or gitea", p)
	}
	ev, known, err := prov.parse(event, body)
	if err != nil {
		return PullRequestDetails{}, err
	}
	if !known || ev.PullRequest == nil {
		return PullRequestDetails{}, errors.New("pull request details: not a pull request change")
	}
	pr := ev.PullRequest
	d := PullRequestDetails{
		Number: pr.Number, Action: pr.Action, HeadSHA: pr.HeadSHA,
		HeadBranch: strings.TrimPrefix(pr.HeadRef, "refs/heads/"),
		BaseBranch: strings.TrimPrefix(pr.BaseRef, "refs/heads/"),
	}
	if p == GitLab {
		err = gitlabDetails(body, &d)
	} else {
		err = githubStyleDetails(body, &d)
	}
	if err != nil {
		return PullRequestDetails{}, fmt.Errorf("%s pull request details: %w", p, err)
	}
	d.Author, d.Title = cleanText(d.Author, 256), cleanText(d.Title, maxFieldLen)
	d.Labels = cleanLabels(d.Labels)
	return d, nil
}

type namedLabel struct {
	Name  string `json:"name"`
	Title string `json:"title"` // GitLab
}

type detailRepo struct {
	ID       int64  `json:"id"`
	FullName string `json:"full_name"`
}

// githubStyleDetails reads the fields GitHub and Gitea share.
func githubStyleDetails(body []byte, d *PullRequestDetails) error {
	var p struct {
		PullRequest *struct {
			Title  string                  `json:"title"`
			User   *struct{ Login string } `json:"user"`
			Labels []namedLabel            `json:"labels"`
			Head   struct {
				RepoID int64       `json:"repo_id"` // Gitea
				Repo   *detailRepo `json:"repo"`
			} `json:"head"`
			Base struct {
				RepoID int64       `json:"repo_id"`
				Repo   *detailRepo `json:"repo"`
			} `json:"base"`
		} `json:"pull_request"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return err
	}
	if p.PullRequest == nil {
		return errors.New("payload lacks pull_request")
	}
	pr := p.PullRequest
	d.Title = pr.Title
	if pr.User != nil {
		d.Author = pr.User.Login
	}
	for _, l := range pr.Labels {
		d.Labels = append(d.Labels, l.Name)
	}
	d.Fork = !sameRepo(pr.Head.Repo, pr.Base.Repo, pr.Head.RepoID, pr.Base.RepoID)
	return nil
}

// sameRepo compares the head and base repositories; when unsure (a
// deleted fork leaves no head repository) it says they differ.
func sameRepo(head, base *detailRepo, headID, baseID int64) bool {
	if head != nil && base != nil {
		if head.ID != 0 && base.ID != 0 {
			return head.ID == base.ID
		}
		return head.FullName != "" && strings.EqualFold(head.FullName, base.FullName)
	}
	return headID != 0 && headID == baseID
}

// gitlabDetails reads a merge request hook.
func gitlabDetails(body []byte, d *PullRequestDetails) error {
	var p struct {
		User *struct {
			Username string `json:"username"`
		} `json:"user"`
		Labels []namedLabel `json:"labels"`
		Attrs  *struct {
			Title           string `json:"title"`
			SourceProjectID int64  `json:"source_project_id"`
			TargetProjectID int64  `json:"target_project_id"`
		} `json:"object_attributes"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return err
	}
	if p.Attrs == nil {
		return errors.New("payload lacks object_attributes")
	}
	d.Title = p.Attrs.Title
	if p.User != nil {
		d.Author = p.User.Username
	}
	for _, l := range p.Labels {
		d.Labels = append(d.Labels, l.Title)
	}
	d.Fork = p.Attrs.SourceProjectID == 0 || p.Attrs.SourceProjectID != p.Attrs.TargetProjectID
	return nil
}

// cleanText drops control characters and clips.
func cleanText(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "")
	}
	return s
}

func cleanLabels(in []string) []string {
	var out []string
	for _, l := range in {
		if l = cleanText(l, 256); l != "" && len(out) < maxLabels {
			out = append(out, l)
		}
	}
	return out
}
