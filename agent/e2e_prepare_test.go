package agent

import (
	"fmt"
	"testing"
	"time"

	"github.com/carina-gitops/carina/e2e/gitserver"
)

// TestIdleSourcePreparesNextFetch: once a Git source has been idle after
// a new snapshot, the agent copies the snapshot's tree, and the next
// commit's download patches that copy instead of copying the tree while
// it waits for the server.
func TestIdleSourcePreparesNextFetch(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("prepare")
	app := ns + "-shop"
	createNamespaces(t, cs, ns)
	w, srv := servedApp(t, app, ns)
	cfg := agentConfig(t, srv.RepoURL("app"), "", "")
	r := startAgent(t, cfg)
	r.repo = srv.RepoURL("app")
	eventually(t, 60*time.Second, "v1 applied", healthyEnv(r, app, "default"))
	fetcher := r.a.feed.fetcher
	eventually(t, 4*prepareAfter+10*time.Second, "the tree copied for the next fetch", func() (bool, string) {
		st := fetcher.Stats()
		return st.Prepared == 1, fmt.Sprintf("%+v", st)
	})

	w.Write(app+"/Appfile", simpleAppfile(app, ns, "v2"))
	w.Commit("v2")
	w.Push("main")
	r.hook(t)
	eventually(t, 20*time.Second, "v2 applied", func() (bool, string) {
		got := configMapData(t, cs, ns, app)
		return got == "v2", got
	})
	if st := fetcher.Stats(); st.PreparedUsed != 1 {
		t.Errorf("downloads that patched the prepared copy = %d, want 1 (%+v)", st.PreparedUsed, st)
	}
	// And the next copy follows the new snapshot.
	eventually(t, 4*prepareAfter+10*time.Second, "the new tree copied", func() (bool, string) {
		st := fetcher.Stats()
		return st.Prepared == 2, fmt.Sprintf("%+v", st)
	})
}

// servedApp serves repository "app", holding app's Appfile at v1 on
// main, over git http-backend.
func servedApp(t *testing.T, app, ns string) (*gitserver.Work, *gitserver.HTTPServer) {
	t.Helper()
	repos := gitserver.NewRepos(t)
	w := repos.Create(t, "app")
	w.Write(app+"/Appfile", simpleAppfile(app, ns, "v1"))
	w.Commit("v1")
	w.Push("main")
	return w, gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{})
}
