package forge

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ownLoginHint says per forge what a token needs to read its own login.
var ownLoginHint = map[Kind]string{
	GitHub: "GitHub: GET /user, or GraphQL's viewer for a GitHub App's installation token",
	GitLab: "GitLab: the token needs the scope api or read_user",
	Gitea:  "Gitea: the token needs the scope read:user",
}

// ownLogin is the login of the token's own account, the author of
// Carina's comments. It is asked of the forge once per Client and kept;
// a failure is not kept, so the next call asks again.
func (c *Client) ownLogin(ctx context.Context) (string, error) {
	c.meMu.Lock()
	defer c.meMu.Unlock()
	if c.me != "" {
		return c.me, nil
	}
	login, err := c.api.currentUser(ctx)
	if err == nil && strings.TrimSpace(login) == "" {
		err = errors.New("the forge named no login")
	}
	if err != nil {
		return "", fmt.Errorf("comment author: the token's own login is unknown, so Carina's comments cannot be told from copies (%s): %w", ownLoginHint[c.kind], err)
	}
	c.me = login
	return login, nil
}

// carinas says whether cm is Carina's comment for marker: it carries the
// marker and the token's own account, me, wrote it. Anyone who may
// comment on a pull request can post the marker; only the author tells
// Carina's comment from a copy.
func carinas(cm Comment, marker, me string) bool {
	return cm.Author == me && strings.Contains(cm.Body, marker)
}
