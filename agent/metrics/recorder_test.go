package metrics

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// designNames is DESIGN.md's metric table, to the letter, plus the two
// series issue 11 (safety under faults) adds: carina_panics_total and
// carina_prune_held (see docs/metrics.md).
var designNames = []string{
	"carina_app_info",
	"carina_apply_objects_total",
	"carina_drift_corrected_total",
	"carina_drift_correction_seconds",
	"carina_drift_detected_total",
	"carina_drift_objects",
	"carina_panics_total",
	"carina_prune_held",
	"carina_reconcile_duration_seconds",
	"carina_reconcile_total",
	"carina_source_fetch_duration_seconds",
	"carina_source_fetch_total",
	"carina_source_revision_info",
	"carina_webhook_requests_total",
}

func newTestRegistry(t *testing.T) (*Recorder, *prometheus.Registry) {
	t.Helper()
	r := NewRecorder()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(r.Collectors()...)
	return r, reg
}

// TestRecorderHasExactlyTheDesignTable records one of everything and
// checks the family names against DESIGN.md.
func TestRecorderHasExactlyTheDesignTable(t *testing.T) {
	r, reg := newTestRegistry(t)
	r.InitApp("shop", "staging", "c1")
	r.InitSource("apps")
	r.Phase("shop", "staging", PhaseRender, time.Millisecond)
	r.Fetch("apps", ResultSuccess, time.Millisecond)
	r.SourceRevision("apps", "main@sha1:1")
	r.AppInfo("shop", "staging", "c1", "main@sha1:1", "Healthy", "Synced")
	r.DriftDetected("shop", "staging", "c1", "Deployment", "modified")
	r.DriftCorrected("shop", "staging", "c1", "Deployment", time.Second)
	r.Webhook("github", "push", "accepted")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		got = append(got, mf.GetName())
	}
	slices.Sort(got)
	if diff := cmp.Diff(designNames, got); diff != "" {
		t.Errorf("metric names (-want +got):\n%s", diff)
	}
}

func TestInitAppCreatesSeriesAtZero(t *testing.T) {
	r, reg := newTestRegistry(t)
	r.InitApp("shop", "prod", "eu", "us")
	want := `
# HELP carina_reconcile_total Reconciles of an (app, env) by result.
# TYPE carina_reconcile_total counter
carina_reconcile_total{app="shop",env="prod",result="error"} 0
carina_reconcile_total{app="shop",env="prod",result="skipped"} 0
carina_reconcile_total{app="shop",env="prod",result="success"} 0
# HELP carina_drift_objects Managed objects currently drifted or contested.
# TYPE carina_drift_objects gauge
carina_drift_objects{app="shop",cluster="eu",env="prod",state="contested"} 0
carina_drift_objects{app="shop",cluster="eu",env="prod",state="drifted"} 0
carina_drift_objects{app="shop",cluster="us",env="prod",state="contested"} 0
carina_drift_objects{app="shop",cluster="us",env="prod",state="drifted"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "carina_reconcile_total", "carina_drift_objects"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(r.applyObjects); n != 4 {
		t.Errorf("apply action series = %d, want 4", n)
	}
}

func TestRecorderCountsAndObserves(t *testing.T) {
	r, reg := newTestRegistry(t)
	r.Reconcile("shop", "staging", ResultSuccess)
	r.Reconcile("shop", "staging", ResultSuccess)
	r.Reconcile("shop", "staging", ResultError)
	r.ApplyObjects("shop", "staging", ActionCreated, 3)
	r.ApplyObjects("shop", "staging", ActionPruned, 0)
	r.Webhook("github", strings.Repeat("e", 100), "accepted")
	want := `
# HELP carina_apply_objects_total Objects handled by apply, by action.
# TYPE carina_apply_objects_total counter
carina_apply_objects_total{action="created",app="shop",env="staging"} 3
# HELP carina_reconcile_total Reconciles of an (app, env) by result.
# TYPE carina_reconcile_total counter
carina_reconcile_total{app="shop",env="staging",result="error"} 1
carina_reconcile_total{app="shop",env="staging",result="success"} 2
# HELP carina_webhook_requests_total Webhook requests by provider, event and result.
# TYPE carina_webhook_requests_total counter
carina_webhook_requests_total{event="` + strings.Repeat("e", 64) + `",provider="github",result="accepted"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"carina_apply_objects_total", "carina_reconcile_total", "carina_webhook_requests_total"); err != nil {
		t.Error(err)
	}
	r.Phase("shop", "staging", PhaseApply, 300*time.Millisecond)
	if n := testutil.CollectAndCount(r.reconcileDuration); n != 1 {
		t.Errorf("duration series = %d, want 1", n)
	}
}

func TestInfoGaugesKeepOneSeries(t *testing.T) {
	r, reg := newTestRegistry(t)
	r.SourceRevision("apps", "main@sha1:1")
	r.SourceRevision("apps", "main@sha1:2")
	r.AppInfo("shop", "prod", "eu", "main@sha1:1", "Progressing", "OutOfSync")
	r.AppInfo("shop", "prod", "us", "main@sha1:1", "Healthy", "Synced")
	r.AppInfo("shop", "prod", "eu", "main@sha1:2", "Healthy", "Synced")
	want := `
# HELP carina_app_info Revision, health and sync of an (app, env) in a cluster (always 1).
# TYPE carina_app_info gauge
carina_app_info{app="shop",cluster="eu",env="prod",health="Healthy",revision="main@sha1:2",sync="Synced"} 1
carina_app_info{app="shop",cluster="us",env="prod",health="Healthy",revision="main@sha1:1",sync="Synced"} 1
# HELP carina_source_revision_info The revision a source is at (always 1).
# TYPE carina_source_revision_info gauge
carina_source_revision_info{revision="main@sha1:2",source="apps"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "carina_app_info", "carina_source_revision_info"); err != nil {
		t.Error(err)
	}
}

func TestDeleteAppRemovesOnlyItsSeries(t *testing.T) {
	r, reg := newTestRegistry(t)
	for _, app := range []string{"shop", "blog"} {
		r.InitApp(app, "staging", "c1")
		r.Reconcile(app, "staging", ResultSuccess)
		r.Phase(app, "staging", PhaseRender, time.Millisecond)
		r.AppInfo(app, "staging", "c1", "r1", "Healthy", "Synced")
		r.DriftDetected(app, "staging", "c1", "Service", "deleted")
	}
	r.DeleteApp("shop")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "app" && l.GetValue() == "shop" {
					t.Errorf("%s still has a series of the deleted app", mf.GetName())
				}
			}
		}
	}
	if got := testutil.ToFloat64(r.reconcileTotal.WithLabelValues("blog", "staging", ResultSuccess)); got != 1 {
		t.Errorf("blog's reconciles = %v, want 1", got)
	}
	// A new info series for the deleted app does not resurrect the old one.
	r.AppInfo("shop", "staging", "c1", "r2", "Healthy", "Synced")
	if n := testutil.CollectAndCount(r.appInfo); n != 2 {
		t.Errorf("app_info series = %d, want 2", n)
	}
	r.InitSource("apps")
	r.SourceRevision("apps", "r1")
	r.DeleteSource("apps")
	if n := testutil.CollectAndCount(r.fetchTotal) + testutil.CollectAndCount(r.sourceRevision); n != 0 {
		t.Errorf("source series left = %d, want 0", n)
	}
}

func TestNewRegistryAddsRuntimeAndProcessCollectors(t *testing.T) {
	reg, err := NewRegistry(NewRecorder())
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	for _, want := range []string{"go_goroutines", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if !slices.Contains(names, want) {
			t.Errorf("registry lacks %s", want)
		}
	}
}

// TestDeleteClusterRemovesOnlyThatCluster: an environment that leaves one
// of its clusters loses that cluster's series and keeps the others.
func TestDeleteClusterRemovesOnlyThatCluster(t *testing.T) {
	r, _ := newTestRegistry(t)
	r.InitApp("shop", "prod", "eu", "us")
	for _, c := range []string{"eu", "us"} {
		r.AppInfo("shop", "prod", c, "r1", "Healthy", "Synced")
		r.DriftDetected("shop", "prod", c, "Deployment", "modified")
	}
	r.DeleteCluster("shop", "prod", "eu")
	if n := testutil.CollectAndCount(r.appInfo); n != 1 {
		t.Errorf("app_info series = %d, want 1 (us)", n)
	}
	if n := testutil.CollectAndCount(r.driftObjects); n != 2 {
		t.Errorf("drift_objects series = %d, want 2 (us drifted and contested)", n)
	}
	if n := testutil.CollectAndCount(r.driftDetected); n != 1 {
		t.Errorf("drift_detected series = %d, want 1 (us)", n)
	}
	if got := testutil.ToFloat64(r.reconcileTotal.WithLabelValues("shop", "prod", ResultSuccess)); got != 0 {
		t.Errorf("reconcile_total of the env = %v, want it kept at 0", got)
	}
	// The us info series stays the one AppInfo replaces.
	r.AppInfo("shop", "prod", "us", "r2", "Healthy", "Synced")
	if n := testutil.CollectAndCount(r.appInfo); n != 1 {
		t.Errorf("app_info series after a new us revision = %d, want 1", n)
	}
}
