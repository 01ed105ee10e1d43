// Package metrics is the agent's Prometheus recorder: exactly the metric
// table of DESIGN.md (prefix carina_), built by NewRecorder and registered
// by the caller on a registry it owns. There are no package-level
// collectors and no init(). Label sets of an application are created up
// front at zero by InitApp, and DeleteApp removes every series of an
// application that is gone.
//
//	rec := metrics.NewRecorder()
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(rec.Collectors()...)
//	rec.InitApp("shop", "staging", "staging")
//	rec.Reconcile("shop", "staging", metrics.ResultSuccess)
package metrics
