package render

import (
	"testing"
	"time"

	"github.com/carina-gitops/carina/appfile"
)

// TestIsolatedWorkerHasNoDeadlineOfItsOwn: the parent's deadline, which
// kills the worker, is the only one a render in a worker has. With a
// deadline of its own the worker could answer first, at about the same
// time (the race showed in agent TestRunawayTemplateIsKilledOthersKeepTheirPace
// on a loaded machine): its answer is a plain job error, so the parent
// kept that worker while the runaway CUE evaluation, which cannot be
// interrupted, went on burning a CPU in it, and the agent took the
// timeout for a terminal render error (errors.Is(err,
// context.DeadlineExceeded) does not cross the process boundary) and did
// not retry it.
func TestIsolatedWorkerHasNoDeadlineOfItsOwn(t *testing.T) {
	reg, repo := diskInputs(t)
	app := &appfile.Application{Name: "shop", Components: []appfile.Component{comp("web", "webservice", 4, web())}}
	opts := DefaultOptions()
	opts.Timeout = 2 * time.Second
	j, err := newJob(app, appfile.Environment{Name: "default"}, reg, repo, opts)
	if err != nil {
		t.Fatal(err)
	}
	if j.Options.Timeout != 0 {
		t.Errorf("the worker's job carries a deadline of %s; want none (the parent kills the worker at %s)", j.Options.Timeout, opts.Timeout)
	}
	if opts.Timeout != 2*time.Second {
		t.Errorf("newJob changed the caller's options")
	}
}
