package agent

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/carina-gitops/carina/agent/api"
)

// driftAppfile has two ConfigMaps: cfg is corrected, note (by a rule of
// the drift policy) only reported.
func driftAppfile(app, ns, greeting string) string {
	return fmt.Sprintf(`name: %[1]s
namespace: %[2]s
services:
  cfg:
    type: k8s-objects
    objects:
      - {apiVersion: v1, kind: ConfigMap, metadata: {name: cfg}, data: {greeting: %[3]s}}
      - {apiVersion: v1, kind: ConfigMap, metadata: {name: note}, data: {greeting: %[3]s}}
policies:
  - name: drift
    type: drift
    properties:
      rules:
        - {selector: {resourceNames: [note]}, mode: report}
`, app, ns, greeting)
}

// edit changes a ConfigMap's greeting as `kubectl edit` does: an Update
// by another field manager.
func edit(ctx context.Context, cs kubernetes.Interface, ns, name, greeting string) error {
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	cm.Data["greeting"] = greeting
	_, err = cs.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{FieldManager: "kubectl-edit"})
	return err
}

// metricValue reads one sample of the agent's metrics; 0 when absent.
func metricValue(t *testing.T, r *running, name, labels string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\{` + labels + `\} (\S+)$`)
	m := re.FindStringSubmatch(r.metrics(t))
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func driftOf(st api.EnvStatus, name string) *api.DriftStatus {
	for i := range st.Drift {
		if st.Drift[i].Name == name {
			return &st.Drift[i]
		}
	}
	return nil
}

// TestDriftIsCorrectedReportedAndContested: a kubectl edit and a
// deletion are undone within a second; a report-mode object stays as
// edited and shows in status and metrics; an object another writer keeps
// changing becomes contested and is left alone; the next commit brings
// the reported object back.
func TestDriftIsCorrectedReportedAndContested(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("drift")
	app := ns + "-app"
	createNamespaces(t, cs, ns)
	repo := newGitRepo(t)
	repo.commit("app", map[string]string{app + "/Appfile": driftAppfile(app, ns, "v1")})
	r := startAgent(t, agentConfig(t, repo.url(), "", ""))
	eventually(t, 30*time.Second, "app healthy", healthyEnv(r, app, "default"))
	ctx := t.Context()
	lbl := fmt.Sprintf(`app="%s",cluster="local",env="default",kind="ConfigMap",reason="%s"`, app, "%s")

	// A kubectl edit is undone.
	t0 := time.Now()
	if err := edit(ctx, cs, ns, "cfg", "edited"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "edit undone", func() (bool, string) {
		got := configMapData(t, cs, ns, "cfg")
		return got == "v1", got
	})
	t.Logf("kubectl edit undone after %s", time.Since(t0).Round(time.Millisecond))
	// A deletion is undone.
	t0 = time.Now()
	if err := cs.CoreV1().ConfigMaps(ns).Delete(ctx, "cfg", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "deletion undone", func() (bool, string) {
		got := configMapData(t, cs, ns, "cfg")
		return got == "v1", got
	})
	t.Logf("deletion undone after %s", time.Since(t0).Round(time.Millisecond))
	eventually(t, 5*time.Second, "drift metrics", func() (bool, string) {
		mod := metricValue(t, r, "carina_drift_detected_total", fmt.Sprintf(lbl, "modified"))
		del := metricValue(t, r, "carina_drift_detected_total", fmt.Sprintf(lbl, "deleted"))
		fixed := metricValue(t, r, "carina_drift_corrected_total", fmt.Sprintf(`app="%s",cluster="local",env="default",kind="ConfigMap"`, app))
		return mod >= 1 && del >= 1 && fixed >= 2, fmt.Sprintf("modified %v deleted %v corrected %v", mod, del, fixed)
	})
	st := mustEnv(t, r, app, "default")
	if len(st.History) == 0 || st.History[0].Reason != "drift corrected" {
		t.Errorf("newest reconcile %+v, want a drift correction", st.History[:min(1, len(st.History))])
	}

	// Report mode: the edit stays, status and metrics say so.
	if err := edit(ctx, cs, ns, "note", "by hand"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "note reported", func() (bool, string) {
		st, err := r.env(app, "default")
		if err != nil {
			return false, err.Error()
		}
		d := driftOf(st, "note")
		return d != nil && d.State == api.DriftReported && d.Reason == "modified" && st.Sync == api.SyncOutOfSync,
			fmt.Sprintf("%s %+v", st.Sync, st.Drift)
	})
	drifted := `app="` + app + `",cluster="local",env="default",state="drifted"`
	if v := metricValue(t, r, "carina_drift_objects", drifted); v != 1 {
		t.Errorf("carina_drift_objects drifted = %v, want 1", v)
	}
	time.Sleep(time.Second)
	if got := configMapData(t, cs, ns, "note"); got != "by hand" {
		t.Errorf("report-mode object was changed back: %q", got)
	}

	// A fight: another writer keeps changing cfg.
	fightCtx, stopFight := context.WithCancel(ctx)
	defer stopFight()
	go func() {
		for fightCtx.Err() == nil {
			_ = edit(fightCtx, cs, ns, "cfg", "theirs")
			time.Sleep(100 * time.Millisecond)
		}
	}()
	eventually(t, 20*time.Second, "cfg contested", func() (bool, string) {
		st, err := r.env(app, "default")
		if err != nil {
			return false, err.Error()
		}
		d := driftOf(st, "cfg")
		return d != nil && d.State == api.DriftContested && !d.RetryAt.IsZero(), fmt.Sprintf("%+v", st.Drift)
	})
	contested := `app="` + app + `",cluster="local",env="default",state="contested"`
	if v := metricValue(t, r, "carina_drift_objects", contested); v != 1 {
		t.Errorf("carina_drift_objects contested = %v, want 1", v)
	}
	corrected := metricValue(t, r, "carina_drift_corrected_total", fmt.Sprintf(`app="%s",cluster="local",env="default",kind="ConfigMap"`, app))
	time.Sleep(2 * time.Second)
	if now := metricValue(t, r, "carina_drift_corrected_total", fmt.Sprintf(`app="%s",cluster="local",env="default",kind="ConfigMap"`, app)); now != corrected {
		t.Errorf("corrections went on while contested: %v -> %v", corrected, now)
	}
	stopFight()

	eventually(t, 10*time.Second, "drift Events", func() (bool, string) {
		evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		got := map[string]string{}
		for _, e := range evs.Items {
			got[e.Reason] += e.Message + "\n"
		}
		return strings.Contains(got["DriftCorrected"], "ConfigMap/"+ns+"/cfg configured") &&
			strings.Contains(got["DriftCorrected"], "ConfigMap/"+ns+"/cfg created") &&
			strings.Contains(got["DriftDetected"], "ConfigMap/"+ns+"/note modified (reported)") &&
			strings.Contains(got["DriftDetected"], "ConfigMap/"+ns+"/cfg modified (contested)"), fmt.Sprint(got)
	})

	// A new commit applies everything again: both objects are back in
	// line and the drift list empties.
	repo.commit("v2", map[string]string{app + "/Appfile": driftAppfile(app, ns, "v2")})
	r.hook(t)
	eventually(t, 20*time.Second, "v2 applied, no drift", func() (bool, string) {
		st, err := r.env(app, "default")
		if err != nil {
			return false, err.Error()
		}
		cfg, note := configMapData(t, cs, ns, "cfg"), configMapData(t, cs, ns, "note")
		return cfg == "v2" && note == "v2" && len(st.Drift) == 0 && st.Sync == api.SyncSynced,
			fmt.Sprintf("cfg %s note %s %s %+v", cfg, note, st.Sync, st.Drift)
	})
}

// waitAtApproval waits until the app's workflow waits at approve-prod
// with the given commit.
func waitAtApproval(t *testing.T, r *running, app, commit string) {
	t.Helper()
	eventually(t, 30*time.Second, "waiting at the approval", func() (bool, string) {
		st, err := r.client.App(t.Context(), app)
		if err != nil {
			return false, err.Error()
		}
		return stepPhase(st.Workflow, "approve-prod") == api.StepSuspended && strings.Contains(st.Revision, commit),
			fmt.Sprintf("%s %+v", st.Revision, st.Workflow)
	})
}

// TestDriftCorrectedWhileWaitingAtAGate: prod runs v1 while v2 waits at
// its approval. An edit of prod is undone back to v1 (what prod applied),
// not to v2 (not approved); and so after a restart of the agent, which
// must first read back what prod applied.
func TestDriftCorrectedWhileWaitingAtAGate(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("gate")
	app := ns + "-shop"
	prod := ns + "-prod"
	createNamespaces(t, cs, ns+"-staging", prod)
	repo := newGitRepo(t)
	c1 := repo.commit("v1", map[string]string{app + "/Appfile": shopAppfile(app, ns, "v1")})
	cfg := agentConfig(t, repo.url(), "", "")
	r := startAgent(t, cfg)
	waitAtApproval(t, r, app, c1)
	if _, err := r.client.Resume(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "prod at v1", func() (bool, string) {
		got := configMapData(t, cs, prod, "web")
		return got == "v1-prod", got
	})
	c2 := repo.commit("v2", map[string]string{app + "/Appfile": shopAppfile(app, ns, "v2")})
	r.hook(t)
	waitAtApproval(t, r, app, c2)
	eventually(t, 30*time.Second, "staging at v2", func() (bool, string) {
		got := configMapData(t, cs, ns+"-staging", "web")
		return got == "v2", got
	})

	undone := func(what string) {
		t.Helper()
		if err := edit(t.Context(), cs, prod, "web", "by hand"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 15*time.Second, what, func() (bool, string) {
			got := configMapData(t, cs, prod, "web")
			return got == "v1-prod", got
		})
	}
	undone("edit of prod undone to v1 while v2 waits")
	if got := mustEnv(t, r, app, "prod"); got.Sync != api.SyncOutOfSync {
		t.Errorf("prod sync = %s while v2 waits, want OutOfSync", got.Sync)
	}

	r.stop(t)
	second := startAgent(t, cfg)
	waitAtApproval(t, second, app, c2)
	eventually(t, 30*time.Second, "prod's applied state read back", func() (bool, string) {
		e, err := second.env(app, "prod")
		if err != nil {
			return false, err.Error()
		}
		return e.Revision != "" && strings.Contains(e.Revision, c1[:12]), e.Revision
	})
	undone("edit of prod undone to v1 after a restart")
}
