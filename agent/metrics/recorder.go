package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Reconcile results, phases, apply actions and drift states: the values of
// the labels of the same names.
const (
	ResultSuccess = "success"
	ResultError   = "error"
	ResultSkipped = "skipped"

	PhaseFetch  = "fetch"
	PhaseRender = "render"
	PhaseApply  = "apply"
	PhaseHealth = "health"

	ActionCreated    = "created"
	ActionConfigured = "configured"
	ActionUnchanged  = "unchanged"
	ActionPruned     = "pruned"

	DriftDrifted   = "drifted"
	DriftContested = "contested"

	// Components of carina_panics_total: where a panic was contained.
	PanicRender  = "render"
	PanicApply   = "apply"
	PanicHealth  = "health"
	PanicDrift   = "drift"
	PanicWebhook = "webhook"
	PanicWork    = "work" // a work item, outside the parts above
)

var (
	results = []string{ResultSuccess, ResultError, ResultSkipped}
	actions = []string{ActionCreated, ActionConfigured, ActionUnchanged, ActionPruned}
	// panicComponents get their carina_panics_total series up front.
	panicComponents = []string{PanicRender, PanicApply, PanicHealth, PanicDrift, PanicWebhook, PanicWork}
)

// Recorder holds every collector of DESIGN.md's metric table. Build it
// with NewRecorder and register Collectors() on a registry you own.
// Its methods are safe for concurrent use.
type Recorder struct {
	reconcileTotal    *prometheus.CounterVec
	reconcileDuration *prometheus.HistogramVec
	fetchTotal        *prometheus.CounterVec
	fetchDuration     *prometheus.HistogramVec
	sourceRevision    *prometheus.GaugeVec
	appInfo           *prometheus.GaugeVec
	applyObjects      *prometheus.CounterVec
	driftDetected     *prometheus.CounterVec
	driftCorrected    *prometheus.CounterVec
	driftObjects      *prometheus.GaugeVec
	driftCorrection   *prometheus.HistogramVec
	webhookRequests   *prometheus.CounterVec
	panics            *prometheus.CounterVec
	pruneHeld         *prometheus.GaugeVec
	previews          *prometheus.GaugeVec

	mu        sync.Mutex
	revisions map[string]string   // source -> revision label in use
	infos     map[appEnv][]string // (app, env) -> app_info label values in use, six per cluster
}

type appEnv struct{ app, env string }

// durationBuckets span 5 ms to about 10 minutes.
var durationBuckets = prometheus.ExponentialBuckets(0.005, 2.5, 12)

// NewRecorder builds the collectors; it registers nothing.
func NewRecorder() *Recorder {
	r := &Recorder{
		reconcileTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carina_reconcile_total", Help: "Reconciles of an (app, env) by result.",
		}, []string{"app", "env", "result"}),
		reconcileDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "carina_reconcile_duration_seconds", Help: "Time spent per reconcile phase.", Buckets: durationBuckets,
		}, []string{"app", "env", "phase"}),
		fetchTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carina_source_fetch_total", Help: "Source polls by result.",
		}, []string{"source", "result"}),
		fetchDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "carina_source_fetch_duration_seconds", Help: "Time per source poll.", Buckets: durationBuckets,
		}, []string{"source", "result"}),
		sourceRevision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "carina_source_revision_info", Help: "The revision a source is at (always 1).",
		}, []string{"source", "revision"}),
		appInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "carina_app_info", Help: "Revision, health and sync of an (app, env) in a cluster (always 1).",
		}, []string{"app", "env", "cluster", "revision", "health", "sync"}),
		applyObjects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carina_apply_objects_total", Help: "Objects handled by apply, by action.",
		}, []string{"app", "env", "action"}),
		driftDetected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carina_drift_detected_total", Help: "Drift detected on managed objects.",
		}, []string{"app", "env", "cluster", "kind", "reason"}),
		driftCorrected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carina_drift_corrected_total", Help: "Drift corrected on managed objects.",
		}, []string{"app", "env", "cluster", "kind"}),
		driftObjects: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "carina_drift_objects", Help: "Managed objects currently drifted or contested.",
		}, []string{"app", "env", "cluster", "state"}),
		driftCorrection: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "carina_drift_correction_seconds", Help: "Time from drift detected to corrected.", Buckets: durationBuckets,
		}, []string{"env"}),
		webhookRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carina_webhook_requests_total", Help: "Webhook requests by provider, event and result.",
		}, []string{"provider", "event", "result"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carina_panics_total", Help: "Panics contained (a work item or request failed, the agent went on), by component.",
		}, []string{"component"}),
		previews: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "carina_preview_environments", Help: "Preview environments (one per pull request) running, by source.",
		}, []string{"source"}),
		pruneHeld: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "carina_prune_held", Help: "Apps of a source whose prune the mass-deletion guard holds until a person confirms (0 when none).",
		}, []string{"source"}),
		revisions: map[string]string{},
		infos:     map[appEnv][]string{},
	}
	for _, c := range panicComponents {
		r.panics.WithLabelValues(c).Add(0)
	}
	return r
}

// Collectors returns every collector, to register on the caller's
// registry.
func (r *Recorder) Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		r.reconcileTotal, r.reconcileDuration, r.fetchTotal, r.fetchDuration, r.sourceRevision, r.appInfo,
		r.applyObjects, r.driftDetected, r.driftCorrected, r.driftObjects, r.driftCorrection, r.webhookRequests,
		r.panics, r.pruneHeld, r.previews,
	}
}

// InitApp creates the series of an (app, env) in its clusters up front,
// at zero, so that rates and alerts see them before the first event.
func (r *Recorder) InitApp(app, env string, clusters ...string) {
	for _, res := range results {
		r.reconcileTotal.WithLabelValues(app, env, res).Add(0)
	}
	for _, a := range actions {
		r.applyObjects.WithLabelValues(app, env, a).Add(0)
	}
	for _, c := range clusters {
		r.driftObjects.WithLabelValues(app, env, c, DriftDrifted).Set(0)
		r.driftObjects.WithLabelValues(app, env, c, DriftContested).Set(0)
	}
}

// InitSource creates a source's fetch series at zero.
func (r *Recorder) InitSource(source string) {
	for _, res := range []string{ResultSuccess, ResultError} {
		r.fetchTotal.WithLabelValues(source, res).Add(0)
	}
	r.pruneHeld.WithLabelValues(source).Set(0)
}

// Panic counts one contained panic of a component (PanicRender, ...).
func (r *Recorder) Panic(component string) {
	r.panics.WithLabelValues(component).Inc()
}

// PruneHeld sets how many apps of a source the mass-deletion guard holds
// (0 once confirmed or no longer needed).
func (r *Recorder) PruneHeld(source string, apps int) {
	r.pruneHeld.WithLabelValues(source).Set(float64(apps))
}

// Reconcile counts one reconcile of (app, env) with its result.
func (r *Recorder) Reconcile(app, env, result string) {
	r.reconcileTotal.WithLabelValues(app, env, result).Inc()
}

// Phase observes the duration of one phase of a reconcile.
func (r *Recorder) Phase(app, env, phase string, d time.Duration) {
	r.reconcileDuration.WithLabelValues(app, env, phase).Observe(d.Seconds())
}

// Fetch counts one poll of a source and observes its duration.
func (r *Recorder) Fetch(source, result string, d time.Duration) {
	r.fetchTotal.WithLabelValues(source, result).Inc()
	r.fetchDuration.WithLabelValues(source, result).Observe(d.Seconds())
}

// SourceRevision sets the revision a source is at; the series of its
// previous revision is removed.
func (r *Recorder) SourceRevision(source, revision string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.revisions[source]; ok && prev != revision {
		r.sourceRevision.DeleteLabelValues(source, prev)
	}
	r.revisions[source] = revision
	r.sourceRevision.WithLabelValues(source, revision).Set(1)
}

// AppInfo sets the info series of (app, env) in a cluster; the previous
// series of the same (app, env, cluster) is removed.
func (r *Recorder) AppInfo(app, env, cluster, revision, health, sync string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := appEnv{app, env}
	labels := []string{app, env, cluster, revision, health, sync}
	kept := r.infos[key][:0:0]
	for i := 0; i+6 <= len(r.infos[key]); i += 6 {
		prev := r.infos[key][i : i+6]
		if prev[2] == cluster {
			if !equal(prev, labels) {
				r.appInfo.DeleteLabelValues(prev...)
			}
			continue
		}
		kept = append(kept, prev...)
	}
	r.infos[key] = append(kept, labels...)
	r.appInfo.WithLabelValues(labels...).Set(1)
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ApplyObjects adds n objects handled by apply with action.
func (r *Recorder) ApplyObjects(app, env, action string, n int) {
	if n > 0 {
		r.applyObjects.WithLabelValues(app, env, action).Add(float64(n))
	}
}

// DriftDetected counts drift on one object.
func (r *Recorder) DriftDetected(app, env, cluster, kind, reason string) {
	r.driftDetected.WithLabelValues(app, env, cluster, kind, reason).Inc()
}

// DriftCorrected counts one corrected object and observes how long the
// drift lasted.
func (r *Recorder) DriftCorrected(app, env, cluster, kind string, after time.Duration) {
	r.driftCorrected.WithLabelValues(app, env, cluster, kind).Inc()
	r.driftCorrection.WithLabelValues(env).Observe(after.Seconds())
}

// DriftObjects sets how many objects are drifted and contested.
func (r *Recorder) DriftObjects(app, env, cluster string, drifted, contested int) {
	r.driftObjects.WithLabelValues(app, env, cluster, DriftDrifted).Set(float64(drifted))
	r.driftObjects.WithLabelValues(app, env, cluster, DriftContested).Set(float64(contested))
}

// maxEventLen bounds the event label, which comes from a request header.
const maxEventLen = 64

// Webhook counts one webhook request.
func (r *Recorder) Webhook(provider, event, result string) {
	if len(event) > maxEventLen {
		event = event[:maxEventLen]
	}
	r.webhookRequests.WithLabelValues(provider, event, result).Inc()
}

// DeleteApp removes every series of app, in every env and cluster.
func (r *Recorder) DeleteApp(app string) {
	r.mu.Lock()
	for k := range r.infos {
		if k.app == app {
			delete(r.infos, k)
		}
	}
	r.mu.Unlock()
	match := prometheus.Labels{"app": app}
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{r.reconcileTotal, r.reconcileDuration, r.appInfo, r.applyObjects, r.driftDetected, r.driftCorrected, r.driftObjects} {
		v.DeletePartialMatch(match)
	}
}

// DeleteEnv removes the series of one environment of app.
func (r *Recorder) DeleteEnv(app, env string) {
	r.mu.Lock()
	delete(r.infos, appEnv{app, env})
	r.mu.Unlock()
	match := prometheus.Labels{"app": app, "env": env}
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{r.reconcileTotal, r.reconcileDuration, r.appInfo, r.applyObjects, r.driftDetected, r.driftCorrected, r.driftObjects} {
		v.DeletePartialMatch(match)
	}
}

// DeleteCluster removes the series of (app, env) that name cluster: the
// environment left that cluster but goes on elsewhere.
func (r *Recorder) DeleteCluster(app, env, cluster string) {
	r.mu.Lock()
	key := appEnv{app, env}
	kept := r.infos[key][:0:0]
	for i := 0; i+6 <= len(r.infos[key]); i += 6 {
		if prev := r.infos[key][i : i+6]; prev[2] != cluster {
			kept = append(kept, prev...)
		}
	}
	r.infos[key] = kept
	r.mu.Unlock()
	match := prometheus.Labels{"app": app, "env": env, "cluster": cluster}
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{r.appInfo, r.driftDetected, r.driftCorrected, r.driftObjects} {
		v.DeletePartialMatch(match)
	}
}

// DeleteSource removes every series of a source.
func (r *Recorder) DeleteSource(source string) {
	r.mu.Lock()
	delete(r.revisions, source)
	r.mu.Unlock()
	match := prometheus.Labels{"source": source}
	r.fetchTotal.DeletePartialMatch(match)
	r.fetchDuration.DeletePartialMatch(match)
	r.sourceRevision.DeletePartialMatch(match)
	r.pruneHeld.DeletePartialMatch(match)
}

// NewRegistry returns a registry holding the recorder's collectors and the
// Go runtime and process collectors: what the agent serves at /metrics.
func NewRegistry(r *Recorder) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	cs := append(r.Collectors(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// PreviewEnvironments sets how many preview environments of source run.
func (r *Recorder) PreviewEnvironments(source string, n int) {
	r.previews.WithLabelValues(source).Set(float64(n))
}
