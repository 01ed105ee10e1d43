// Package agent wires sources, rendering and apply into Carina's continuous
// reconcile loop: the config file, pollers, the per-(app, env) work queue,
// workflow steps, removals, drift bookkeeping, leader election, the HTTP
// server, Kubernetes Events and metrics. It is the only package that logs.
//
// Agent is only the composition root. Each concern is a type that owns
// its state (docs/agent.md, "Inside the agent"):
//
//   - catalog: source snapshots → parsed apps, registries, inputs digests,
//     and which (app, env) items changed. It hands out immutable
//     *desiredApp values.
//   - feed: the pollers, and what each load changes.
//   - workers: the work queue; terminal errors (errTerminal: a render or
//     validation error) are not retried, transient ones back off.
//   - reconciler: one (app, env) run: observe → envState (Suspended,
//     Gated, GatedDrifted, Failed, InSync, Progressing, Drifted, Stale,
//     Removed) → one switch → act.
//   - driver: the workflow of each app (agent/workflow is its engine).
//   - removals and orphans: apps, environments and clusters that left Git.
//   - driftBook: drift watchers, findings, contests, due corrections.
//   - restorer: the applied set of a gated env read back after a start.
//   - statusStore: the one status record the API reads. It keeps each
//     env's applied set without its Secrets' values, so a correction of a
//     drifted Secret renders again (correct_secret.go).
//   - targetSet: each cluster's Target and, built once each, the Targets
//     that act as an environment's tenant service account (tenants.go).
//
// The agent declares what it needs of its collaborators as small
// interfaces: Renderer (render.Render, or the render worker pool),
// Target (the apply engine's Manager, one per cluster and identity) and
// Impersonator (a cluster's Target that can act as a tenant). Its
// subpackages:
//
//   - agent/config: the strict carina.yaml parser;
//   - agent/metrics: the Prometheus recorder of DESIGN.md's table;
//   - agent/api: the HTTP API, its JSON types and its client;
//   - agent/workflow: the workflow state machine.
//
// Usage, as `carina agent` does it:
//
//	cfg, err := config.Load("carina.yaml")
//	clusters, err := agent.BuildClusters(ctx, cfg)
//	a, err := agent.New(agent.Options{Config: cfg, Logger: log, Targets: clusters.Targets})
//	err = a.Run(ctx, agent.RunOptions{Clients: clusters.Clients, REST: clusters.REST})
package agent
