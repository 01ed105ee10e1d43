package agent

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carina-gitops/carina/e2e/cluster"
)

// TestEgressRefusedSourceIsAnErrorAndDeletesNothing: an app is deployed
// from a real Git server over HTTP. Then its host turns hostile and
// redirects every request to the cloud metadata address: the agent
// refuses that hop, the app and the source say so (the address and why),
// and nothing is written or deleted. A second agent configured with
// egress.denyCIDRs 127.0.0.0/8 is refused the (loopback) Git server: the
// source says so, and that agent writes nothing and deletes nothing,
// although it reaches the cluster's API server on loopback (the clusters
// are not subject to the egress policy).
func TestEgressRefusedSourceIsAnErrorAndDeletesNothing(t *testing.T) {
	c, cs := needCluster(t)
	ns := testNS("egress")
	app := ns + "-shop"
	createNamespaces(t, cs, ns)
	w, srv := servedApp(t, app, ns)
	upstream, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var hostile atomic.Bool
	forward := httputil.NewSingleHostReverseProxy(upstream)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hostile.Load() {
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/iam/security-credentials"+r.URL.Path, http.StatusFound)
			return
		}
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	repoURL := front.URL + "/app.git"

	const userA, userB = "carina-egress-a", "carina-egress-b"
	a := startAgent(t, agentConfigAs(t, repoURL, "", userKubeconfig(t, c, userA), ""))
	eventually(t, 60*time.Second, "v1 applied from the HTTP server", healthyEnv(a, app, "default"))

	hostile.Store(true)
	w.Write(app+"/Appfile", simpleAppfile(app, ns, "v2"))
	w.Commit("v2")
	w.Push("main")
	a.hook(t)
	const metadataRefusal = "refusing to connect to 169.254.169.254:80 (link-local, cloud metadata): denied by the egress policy"
	eventually(t, 30*time.Second, "the app says the redirect was refused", func() (bool, string) {
		st, err := a.client.App(t.Context(), app)
		if err != nil || st.Error == nil {
			return false, fmt.Sprint(err)
		}
		return strings.Contains(st.Error.Message, metadataRefusal), st.Error.Message
	})
	srcs, err := a.client.Sources(t.Context())
	if err != nil || len(srcs) != 1 || srcs[0].Error == nil || !strings.Contains(srcs[0].Error.Message, metadataRefusal) {
		t.Errorf("the source's status does not say the redirect was refused: %+v %v", srcs, err)
	}
	if got := configMapData(t, cs, ns, app); got != "v1" {
		t.Errorf("the app holds %q after the refused fetch, want v1 kept", got)
	}
	a.stop(t)

	hostile.Store(false)
	b := startAgent(t, agentConfigAs(t, repoURL, "", userKubeconfig(t, c, userB), "egress: {denyCIDRs: [127.0.0.0/8]}"))
	const configRefusal = "(denyCIDRs 127.0.0.0/8): denied by the egress policy"
	eventually(t, 30*time.Second, "the source says the Git server is refused", func() (bool, string) {
		srcs, err := b.client.Sources(t.Context())
		if err != nil || len(srcs) != 1 || srcs[0].Error == nil {
			return false, fmt.Sprintf("%+v %v", srcs, err)
		}
		msg := srcs[0].Error.Message
		return strings.Contains(msg, "refusing to connect to 127.0.0.1:") && strings.Contains(msg, configRefusal), msg
	})
	if code := probe(b.addr, "/readyz"); code == http.StatusOK {
		t.Errorf("/readyz answers %d while the only source was never fetched", code)
	}
	time.Sleep(3 * time.Second) // polls, retries and the orphan collection get their chance to go wrong
	if got := configMapData(t, cs, ns, app); got != "v1" {
		t.Errorf("the app holds %q under the second agent, want v1 kept", got)
	}
	events, err := c.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{userA, userB} {
		for _, ev := range cluster.Select(events, cluster.Filter{User: user, Writes: true}) {
			ref := ev.ObjectRef
			switch {
			case ref == nil:
			case (ev.Verb == "delete" || ev.Verb == "deletecollection") && (user == userB || ref.Namespace == ns || strings.Contains(ref.Name, app)):
				// The first agent, while it could fetch, may collect the
				// orphans that earlier tests left under the same source
				// name in this shared cluster; never this app's objects.
				t.Errorf("%s deleted %s %s/%s", user, ref.Resource, ref.Namespace, ref.Name)
			case user == userB && (ref.Namespace == ns || strings.Contains(ref.Name, app)):
				t.Errorf("%s, refused its source, wrote %s %s %s/%s", user, ev.Verb, ref.Resource, ref.Namespace, ref.Name)
			}
		}
	}
	if w := cluster.Select(events, cluster.Filter{User: userA, Writes: true, Namespace: ns}); len(w) == 0 {
		t.Error("the first agent wrote nothing to the app's namespace: the checks above prove nothing")
	}
}

// TestNotifyStepConnectsOnlyWhereEgressAllows: the notify step's client
// (the default one New builds) refuses a URL on a denied address; the
// endpoint gets nothing.
func TestNotifyStepConnectsOnlyWhereEgressAllows(t *testing.T) {
	needCluster(t) // agentConfig names the local control plane's kubeconfig
	var asked atomic.Int32
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { asked.Add(1) }))
	t.Cleanup(endpoint.Close)
	repo := newGitRepo(t)
	repo.commit("nothing", map[string]string{"README": "x\n"})
	for _, tt := range []struct {
		extra, url, want string
	}{
		{"egress: {denyLoopback: true}", endpoint.URL, "(loopback, denyLoopback): denied by the egress policy"},
		{"", "http://169.254.169.254/hook", "refusing to connect to 169.254.169.254:80 (link-local, cloud metadata): denied by the egress policy"},
	} {
		a, err := New(Options{Config: agentConfig(t, repo.url(), "", tt.extra), Targets: map[string]Target{}})
		if err != nil {
			t.Fatal(err)
		}
		err = (&world{d: a.driver}).Notify(t.Context(), tt.url, map[string]string{"app": "shop"})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("notify %s with %q: %v, want a refusal saying %q", tt.url, tt.extra, err, tt.want)
		}
	}
	if asked.Load() != 0 {
		t.Errorf("the denied endpoint was posted to %d times", asked.Load())
	}
	a, err := New(Options{Config: agentConfig(t, repo.url(), "", ""), Targets: map[string]Target{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := (&world{d: a.driver}).Notify(t.Context(), endpoint.URL, map[string]string{"app": "shop"}); err != nil || asked.Load() != 1 {
		t.Errorf("notify on loopback under the default policy: %v, %d posts (the refusal above would prove nothing)", err, asked.Load())
	}
}
