// Package health computes the health of live Kubernetes objects with
// kstatus-like rules, and evaluates definitions' CUE health policies.
//
// Compute is a pure function of one object: NotFound, Terminating,
// InProgress while status.observedGeneration lags, then one rule per kind
// (one file each: Deployment, StatefulSet, DaemonSet, ReplicaSet, Pod, Job,
// CronJob, Service, PersistentVolumeClaim, Ingress,
// CustomResourceDefinition, Namespace) or the generic conditions Stalled,
// Reconciling and Ready. Fixtures in testdata/ are named kind-scenario.
//
// Policy.Evaluate runs a definition's healthPolicy (isHealth: bool) and
// customStatus (message: string) with context.output set to the live
// workload and context.outputs to the other live objects, as in KubeVela.
//
//	r, err := health.Compute(live)
//	if r.Status == health.Failed { ... r.Message ... }
package health
