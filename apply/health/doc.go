// Package health computes the health of live Kubernetes objects with
// kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status), and evaluates
// definitions' CUE health policies.
//
// Compute is a pure function of one object: NotFound for nil, then
// kstatus's verdict (Terminating, InProgress while status.observedGeneration
// lags, the conditions Stalled and Reconciling, its rules for built-in
// kinds, then the condition Ready), then Carina's own rule for the few
// kinds where kstatus has none or one that is wrong for an agent whose
// waits and gates trust it. They have one file each (Deployment: paused;
// StatefulSet: OnDelete readiness; ReplicaSet: ReplicaFailure; Pod:
// failed pods, container problems, unschedulable; Job: running, suspended,
// failure reasons; Service: LoadBalancer address; PersistentVolumeClaim:
// Lost; Ingress: addresses in the message), and each says why it remains.
// Fixtures in testdata/ are named kind-scenario and model objects as the
// API server returns them, defaults included.
//
// Policy.Evaluate runs a definition's healthPolicy (isHealth: bool) and
// customStatus (message: string) with context.output set to the live
// workload and context.outputs to the other live objects, as in KubeVela.
//
//	r, err := health.Compute(live)
//	if r.Status == health.Failed { ... r.Message ... }
package health
