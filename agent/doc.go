// Package agent wires sources, rendering and apply into Carina's continuous
// reconcile loop: the config file, pollers, the per-(app, env) work queue,
// workflow steps, preview environments, leader election, the HTTP server,
// Kubernetes Events and metrics. It is the only package that logs.
package agent
