// Package forge talks to the REST APIs of GitHub, GitLab and Gitea (and
// Forgejo) for one repository: it lists open pull requests, posts commit
// statuses (context "carina/<env>"), keeps one comment per pull request
// and key up to date in place (and finds it again by its hidden marker
// and its author, the token's own account: a copy of the marker by
// anyone else is never edited),
// opens a pull request or updates the open
// one for a branch, reads combined statuses and merges.
//
// The token comes from a file and is never printed or put in an error;
// every request has a timeout and every answer a size limit. The package
// returns data and never logs.
//
//	c, err := forge.New(forge.Options{Kind: forge.Gitea, BaseURL: "https://git.example.com/api/v1",
//		Repo: "team/shop", TokenFile: "/var/run/secrets/forge/token"})
//	err = c.SetStatus(ctx, sha, forge.Status{Context: forge.StatusContext("staging"),
//		State: forge.StateSuccess, TargetURL: statusURL})
//	_, _, err = c.UpsertComment(ctx, pr.Number, "diff", markdown) // updated in place
//	pr, created, err := c.OpenOrUpdatePullRequest(ctx, forge.PullRequestSpec{
//		Head: "carina/promote-shop-prod", Base: "main", Title: title, Body: body})
package forge
