package apply

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/carina-gitops/carina/apply/health"
)

// group is the objects of one definition in one component: the
// component's own (trait "") or one trait's.
type group struct {
	component, trait string
}

// rollup applies the health policies per group and rolls the statuses up
// per component and app. A group with a healthPolicy is Current when the
// policy holds; otherwise it is InProgress, or worse when one of its
// objects is Failed or Terminating by kstatus.
func rollup(ctx context.Context, set *Set, items []*item, objs []ObjectHealth) *HealthReport {
	effective := make([]ObjectHealth, len(objs))
	copy(effective, objs)
	groups := map[group][]int{}
	var order []group
	for i, it := range items {
		g := group{it.obj.Component, it.obj.Trait}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], i)
	}
	compMsg := map[string]string{}
	for _, g := range order {
		applyPolicy(ctx, set, g, groups[g], items, effective, compMsg)
	}
	rep := &HealthReport{App: set.App, Env: set.Env, Status: health.Current, Objects: objs}
	byComp := map[string]int{}
	for i, it := range items {
		name := it.obj.Component
		ci, ok := byComp[name]
		if !ok {
			ci = len(rep.Components)
			byComp[name] = ci
			rep.Components = append(rep.Components, ComponentHealth{Name: name, Status: health.Current, Message: compMsg[name]})
		}
		c := &rep.Components[ci]
		if e := effective[i]; health.Worst(c.Status, e.Status) != c.Status {
			c.Status = e.Status
			if compMsg[name] == "" {
				c.Message = e.ID.String() + ": " + e.Message
			}
		}
		rep.Status = health.Worst(rep.Status, effective[i].Status)
	}
	return rep
}

// applyPolicy evaluates a group's health policy, if it has one, and sets
// the effective status of its objects.
func applyPolicy(ctx context.Context, set *Set, g group, idx []int, items []*item, eff []ObjectHealth, compMsg map[string]string) {
	var policy health.Policy
	for _, i := range idx {
		if !items[i].obj.Health.IsZero() {
			policy = items[i].obj.Health
			break
		}
	}
	if policy.IsZero() {
		return
	}
	pc, ok := policyContext(set, g, idx, items)
	if !ok {
		return // the workload is missing: kstatus says NotFound
	}
	worst := health.Current
	msg := ""
	pc.Healthy = true
	for _, i := range idx {
		if s := eff[i].Status; s == health.Failed || s == health.Terminating {
			worst, msg = health.Worst(worst, s), eff[i].Message
		}
		pc.Healthy = pc.Healthy && eff[i].Status == health.Current
	}
	r, err := policy.Evaluate(ctx, pc)
	var status health.Status
	switch {
	case err != nil:
		status, msg = health.Worst(health.InProgress, worst), "health policy: "+err.Error()
	case r.HasHealth && r.Healthy:
		status = health.Current
	case r.HasHealth:
		status = health.Worst(health.InProgress, worst)
		if msg == "" {
			msg = "health policy not satisfied"
		}
	default:
		status = ""
	}
	if r.Message != "" {
		msg = r.Message
		if g.trait == "" {
			compMsg[g.component] = r.Message
		}
	}
	for _, i := range idx {
		if status != "" {
			eff[i].Status = status
		}
		if msg != "" {
			eff[i].Message = msg
		}
	}
}

// policyContext builds context.output (the component's workload) and
// context.outputs (the group's named objects) from live objects.
func policyContext(set *Set, g group, idx []int, items []*item) (health.PolicyContext, bool) {
	pc := health.PolicyContext{Name: g.component, AppName: set.App, Outputs: map[string]map[string]any{}}
	for _, it := range items {
		if it.obj.Component == g.component && it.obj.Workload {
			if it.live == nil {
				return pc, false
			}
			pc.Output = runtime.DeepCopyJSON(it.live.Object)
			pc.Namespace = it.live.GetNamespace()
		}
	}
	for _, i := range idx {
		if it := items[i]; it.obj.OutputName != "" && it.live != nil {
			pc.Outputs[it.obj.OutputName] = runtime.DeepCopyJSON(it.live.Object)
		}
	}
	if pc.Output == nil {
		pc.Output = map[string]any{}
	}
	return pc, true
}
