package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/apply/policy"
)

// errRenderMoved: a render for a drift correction no longer gives the
// set that was applied (a chart changed under its version, say): the
// correction is not made from it, and the env is rendered and applied
// again at the next reconcile.
var errRenderMoved = errors.New("the render no longer gives the applied set")

// dueWithheld reports whether a due object is withheld in set: a Secret,
// whose values the agent does not keep after an apply.
func dueWithheld(set *apply.Set, due map[string][]dueObject) bool {
	withheld := map[string]bool{}
	for _, o := range set.Objects {
		if o.Withheld {
			withheld[inventory.IDOf(o.Obj).Key()] = true
		}
	}
	for _, objs := range due {
		for _, o := range objs {
			if withheld[o.id.Key()] {
				return true
			}
		}
	}
	return false
}

// correctionSet renders the set an env applied last again, with its
// Secret values, for a correction of a drifted Secret: the agent keeps
// no Secret value after an apply (drift compares them by hash), so the
// plaintext is asked of the render again, and dropped after the
// correction. The env's current inputs render it when they are the
// applied ones (for the applied cluster version); otherwise (an env
// waiting for its workflow) the source is read at the applied commit,
// as the restorer does. The render must give the applied digest.
func (run *envRun) correctionSet(ctx context.Context, e appfile.Environment, ob observation) (*apply.Set, error) {
	var set *apply.Set
	if ob.applied.inputs == ob.inputs && ob.applied.kubeVersion == run.kube.git {
		res, err := run.render(ctx, e)
		if err != nil {
			return nil, err
		}
		run.r.plain.set(run.d.Name, run.env, res)
		set = policy.Set(res, run.d.App, e, ob.set.Revision)
	} else {
		var err error
		if set, _, err = run.r.restorer.appliedSet(ctx, restoreRequest{app: run.d, env: e, applied: ob.applied}); err != nil {
			return nil, err
		}
	}
	if set.Digest != ob.set.Digest {
		return nil, fmt.Errorf("%w (digest %s, applied %s)", errRenderMoved, set.Digest, ob.set.Digest)
	}
	return set, nil
}
