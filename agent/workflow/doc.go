// Package workflow runs an application's workflow steps as a state
// machine: observe (through the World the agent implements), decide each
// step's phase, and act (deploy, notify) only where the decision says so.
//
// Step types: deploy, suspend (resumed by State.Resume, or after
// properties.duration), wait-healthy (properties.envs, default all),
// depends-on-app (properties.name and optional revision), step-group
// (sub-steps in their mode) and notify (a JSON POST to properties.url).
// Every step takes if (always, true, false, or
// status.STEP.phase == "PHASE"), timeout and dependsOn. A step without
// `if` is skipped once an earlier step failed. An application without a
// workflow deploys its environments in order.
//
// The State is small JSON; the agent stores it with the inventory, so a
// restarted agent resumes at the step it was on. A new release (a new
// revision or new inputs) starts a new State.
//
//	plan := workflow.NewPlan(app, envs)
//	out := workflow.Advance(ctx, plan, state, world, workflow.Options{App: app.Name})
//	if out.Changed { save(state) }
package workflow
