package agent

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/apply"
)

// TestRemovedClusterIsPruned: an env on clusters local and second, where
// drift is corrected in both; a commit drops second from it. Its object
// and inventory go from second, with a Pruned Event there; local keeps
// them untouched and the env stays Synced and Healthy. The drift
// watcher of second forgot the env: neither the deletion nor a later
// hand-made object there is corrected.
func TestRemovedClusterIsPruned(t *testing.T) {
	_, cs := needCluster(t)
	second, cs2 := startSecondCluster(t)
	ns := testNS("clustergone")
	app := ns + "-shop"
	createNamespaces(t, cs, ns)
	createNamespaces(t, cs2, ns)
	repo := newGitRepo(t)
	repo.commit("local and second", map[string]string{app + "/Appfile": clustersAppfile(app, ns, "local", "second")})
	_, cfg := agentConfigClusters(t, fmt.Sprintf("apps: [{name: apps, url: %q, interval: 1h}]", repo.url()),
		clustersYAML("local", testCluster.Kubeconfig(), "second", second.Kubeconfig()), "", "127.0.0.1:0", "")
	r := startAgent(t, cfg)
	eventually(t, 30*time.Second, "prod healthy", healthyEnv(r, app, "prod"))
	for name, c := range map[string]kubernetes.Interface{"local": cs, "second": cs2} {
		if got := configMapData(t, c, ns, app); got != "v1" || inventoryOf(t, c, app, "prod") == nil {
			t.Fatalf("%s: greeting %q, inventory %v; want v1 and an inventory", name, got, inventoryOf(t, c, app, "prod") != nil)
		}
	}
	if err := edit(t.Context(), cs2, ns, app, "by hand"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "an edit in second corrected while prod names it", func() (bool, string) {
		got := configMapData(t, cs2, ns, app)
		return got == "v1", got
	})
	localRV := resourceVersion(t, cs, ns, app)

	sha := repo.commit("drop second", map[string]string{app + "/Appfile": clustersAppfile(app, ns, "local")})
	r.hook(t)
	eventually(t, 20*time.Second, "prod pruned from second", func() (bool, string) {
		gone, inv := objectGone(t, cs2, ns, app), inventoryOf(t, cs2, app, "prod") == nil
		return gone && inv, fmt.Sprintf("object gone %v, inventory gone %v", gone, inv)
	})
	eventually(t, 10*time.Second, "prod on local only", func() (bool, string) {
		e, err := r.env(app, "prod")
		if err != nil {
			return false, err.Error()
		}
		return slices.Equal(e.Clusters, []string{"local"}) && strings.Contains(e.Revision, sha), fmt.Sprintf("%v at %s", e.Clusters, e.Revision)
	})
	// The removal requeues prod once it stops: its status settles then.
	eventually(t, 10*time.Second, "prod Synced and Healthy on local", func() (bool, string) {
		e := mustEnv(t, r, app, "prod")
		return e.Sync == api.SyncSynced && e.Health == api.HealthHealthy && e.LastError == nil && len(e.Drift) == 0,
			fmt.Sprintf("%s %s, error %+v, drift %+v", e.Sync, e.Health, e.LastError, e.Drift)
	})
	if got := resourceVersion(t, cs, ns, app); got != localRV {
		t.Errorf("local's ConfigMap changed: resourceVersion %s, was %s", got, localRV)
	}
	if inventoryOf(t, cs, app, "prod") == nil {
		t.Error("local's inventory is gone")
	}
	evs, err := cs2.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("cluster second removed from environment prod in source apps at main@sha1:%s: 1 objects pruned", sha)
	if !slices.ContainsFunc(evs.Items, func(ev corev1.Event) bool { return ev.Reason == "Pruned" && ev.Message == want }) {
		t.Errorf("no Pruned event %q in second", want)
	}

	eventually(t, 5*time.Second, "no series of prod in second", func() (bool, string) {
		m := r.metrics(t)
		re := regexp.MustCompile(`(?m)^carina_\w+\{[^}]*app="` + regexp.QuoteMeta(app) + `"[^}]*cluster="second"[^}]*\}.*$`)
		left := re.FindAllString(m, -1)
		return len(left) == 0, strings.Join(left, "\n")
	})
	if metricValue(t, r, "carina_app_info", `app="`+app+`",cluster="local",env="prod",health="Healthy",revision="main@sha1:`+sha+`",sync="Synced"`) != 1 {
		t.Errorf("carina_app_info of prod in local is gone:\n%s", r.metrics(t))
	}

	// The watcher of second forgot prod's intent: the deletion stays, and
	// an object made by hand with prod's labels is left as it is.
	corrected := metricValue(t, r, "carina_drift_corrected_total", `app="`+app+`",cluster="second",env="prod",kind="ConfigMap"`)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns, Labels: map[string]string{
		apply.LabelApp: app, apply.LabelEnv: "prod", apply.LabelComponent: "cfg"}}, Data: map[string]string{"greeting": "by hand"}}
	time.Sleep(2 * time.Second)
	if !objectGone(t, cs2, ns, app) {
		t.Fatal("the pruned ConfigMap is back in second")
	}
	if _, err := cs2.CoreV1().ConfigMaps(ns).Create(t.Context(), cm, metav1.CreateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if got := configMapData(t, cs2, ns, app); got != "by hand" {
		t.Errorf("second's hand-made ConfigMap = %q, want it left alone", got)
	}
	if got := metricValue(t, r, "carina_drift_corrected_total", `app="`+app+`",cluster="second",env="prod",kind="ConfigMap"`); got != corrected {
		t.Errorf("drift corrections in second = %v after the prune, were %v", got, corrected)
	}
	if got := configMapData(t, cs, ns, app); got != "v1" {
		t.Errorf("local's ConfigMap = %q, want v1", got)
	}
}
