package agent

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPinnedEnvironmentDeploysItsRevision: an environment pinned in Git
// (environments/prod.yaml) deploys the app as it is at that revision, a
// commit or a tag, while the other environment follows the branch head;
// moving the pin moves prod; a pin that cannot be loaded keeps prod at
// its last state and says why.
func TestPinnedEnvironmentDeploysItsRevision(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("pins")
	app := ns + "-shop"
	createNamespaces(t, cs, ns+"-staging", ns+"-prod")
	repo := newGitRepo(t)
	first := repo.commit("shop v1", map[string]string{app + "/Appfile": twoEnvAppfile(app, ns, "v1", "staging", "prod")})
	repo.git("tag", "v1", first)
	r := startAgent(t, agentConfig(t, repo.url(), "", ""))
	greetings := func(staging, prod string) func() (bool, string) {
		return func() (bool, string) {
			s, p := configMapData(t, cs, ns+"-staging", app), configMapData(t, cs, ns+"-prod", app)
			return s == staging && p == prod, "staging " + s + ", prod " + p
		}
	}
	eventually(t, 30*time.Second, "v1 everywhere", greetings("v1", "v1"))

	second := repo.commit("shop v2, prod pinned to v1's commit", map[string]string{
		app + "/Appfile":         twoEnvAppfile(app, ns, "v2", "staging", "prod"),
		"environments/prod.yaml": "revision: " + first + "\n",
	})
	r.hook(t)
	eventually(t, 30*time.Second, "staging at the head, prod pinned", greetings("v2", "v1"))
	eventually(t, 10*time.Second, "the pin in the status", func() (bool, string) {
		e, err := r.env(app, "prod")
		if err != nil {
			return false, err.Error()
		}
		return e.Pinned == first && strings.HasSuffix(e.Revision, first), fmt.Sprintf("pinned %q revision %q", e.Pinned, e.Revision)
	})

	repo.commit("promote v2 to prod", map[string]string{"environments/prod.yaml": "revision: " + second + "\n"})
	r.hook(t)
	eventually(t, 30*time.Second, "prod promoted to v2", greetings("v2", "v2"))

	repo.commit("pin prod to the tag v1", map[string]string{"environments/prod.yaml": "revision: v1\n"})
	r.hook(t)
	eventually(t, 30*time.Second, "prod back at the tag v1", greetings("v2", "v1"))

	repo.commit("pin prod to a commit that does not exist", map[string]string{"environments/prod.yaml": "revision: " + strings.Repeat("0", 40) + "\n"})
	r.hook(t)
	eventually(t, 30*time.Second, "the app says why", func() (bool, string) {
		a, err := r.client.App(t.Context(), app)
		if err != nil || a.Error == nil {
			return false, fmt.Sprint(err)
		}
		return strings.Contains(a.Error.Message, "environments/prod.yaml: environment prod is pinned to "+strings.Repeat("0", 40)), a.Error.Message
	})
	if ok, got := greetings("v2", "v1")(); !ok {
		t.Errorf("a broken pin changed what is deployed: %s", got)
	}
}
