package apply

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/carina-gitops/carina/apply/health"
)

// Wait polls the set's health until the app is Current (nil error) or an
// object fails (a *HealthError), and records the final health in the
// inventory. When ctx ends first, the error lists what was not ready.
// The last report is returned in every case.
func (m *Manager) Wait(ctx context.Context, set *Set) (*HealthReport, error) {
	var rep *HealthReport
	err := m.poll(ctx, func() (bool, error) {
		var err error
		if rep, err = m.Health(ctx, set); err != nil {
			return false, err
		}
		return rep.Status == health.Current || rep.Status == health.Failed, nil
	})
	if err != nil {
		if rep != nil && ctx.Err() != nil {
			return rep, fmt.Errorf("app %s env %s: waiting for health: %w; not ready: %s", set.App, set.Env, err, notReady(rep))
		}
		return rep, err
	}
	if rerr := m.recordHealth(ctx, set, rep.Status); rerr != nil {
		return rep, rerr
	}
	if rep.Status == health.Failed {
		var failed []ObjectHealth
		for _, o := range rep.Objects {
			if o.Status == health.Failed {
				failed = append(failed, o)
			}
		}
		return rep, &HealthError{Failed: failed}
	}
	return rep, nil
}

// notReady prints up to ten objects that are not Current.
func notReady(rep *HealthReport) string {
	var parts []string
	for i, o := range rep.NotCurrent() {
		if i == 10 {
			parts = append(parts, "...")
			break
		}
		parts = append(parts, fmt.Sprintf("%s %s: %s", o.ID, o.Status, o.Message))
	}
	return strings.Join(parts, "; ")
}

// recordHealth writes the app's health into its inventory when it
// changed.
func (m *Manager) recordHealth(ctx context.Context, set *Set, status health.Status) error {
	inv, err := m.ReadInventory(ctx, set.App, set.Env)
	if err != nil || inv == nil || inv.Health == string(status) {
		return err
	}
	inv.Health = string(status)
	return m.writeInventory(ctx, inv)
}

// fromMap converts a JSON map to a typed value.
func fromMap(m map[string]any, out any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(m, out)
}
