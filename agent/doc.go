// Package agent wires sources, rendering and apply into Carina's continuous
// reconcile loop: the config file, pollers, the per-(app, env) work queue,
// workflow steps, preview environments, leader election, the HTTP server,
// Kubernetes Events and metrics. It is the only package that logs.
//
// Data flow: a source poll (on its interval, or woken by a webhook) gives
// a Snapshot; the applications in it are loaded, and for each (app, env)
// the agent computes an inputs digest (the files under the app's
// directory, the definitions it uses, the environment). Only items whose
// inputs changed are queued. A worker runs an item through
// gate → fast path → render → apply → health → record; an app's workflow
// item (agent/workflow) releases environments to deploy, in order.
//
// The agent declares what it needs of its collaborators as small
// interfaces: Renderer (render.Render, later the render worker pool) and
// Target (the apply engine's Manager, one per cluster). Its subpackages:
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
//
// docs/agent.md describes the configuration, the loop and the API.
package agent
