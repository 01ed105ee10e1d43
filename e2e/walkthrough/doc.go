// Package walkthrough holds what the walk-through programs share (make
// demo in e2e/cmd/demo, make demo-forge in e2e/cmd/demo-forge): the real
// agent run in process from a carina.yaml, as `carina agent --config`
// runs it, and the waits that follow what it does (Poll, Available).
//
//	a, err := walkthrough.StartAgent(ctx, walkthrough.AgentOptions{Config: "carina.yaml", Log: "agent.log", Listener: ln, Token: token})
//	...
//	defer a.Stop()
//	err = walkthrough.Poll(ctx, time.Minute, 100*time.Millisecond, "staging healthy", func() (bool, string, error) { ... })
package walkthrough
