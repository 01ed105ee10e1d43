package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/workflow"
)

// world is the workflow engine's view of the agent for one app.
type world struct {
	d   *driver
	app *desiredApp
}

var _ workflow.World = (*world)(nil)

// Deploy releases envs at the app's release, queues them when that is
// news, and reports whether they are applied and healthy.
func (w *world) Deploy(_ context.Context, envs []string) workflow.Progress {
	w.d.release(w.app, envs)
	return w.progress(envs)
}

// Healthy reports whether envs are applied at the current inputs and
// healthy.
func (w *world) Healthy(_ context.Context, envs []string) workflow.Progress {
	return w.progress(envs)
}

func (w *world) progress(envs []string) workflow.Progress {
	var waiting []string
	for _, e := range envs {
		v := w.d.store.view(w.app.Name, e)
		switch {
		case v.lastError != nil:
			waiting = append(waiting, e+": "+v.lastError.Message)
		case !v.applied.ok || v.applied.inputs != w.app.Inputs[e]:
			waiting = append(waiting, e+": not applied yet")
		case v.health != api.HealthHealthy:
			waiting = append(waiting, fmt.Sprintf("%s: %s", e, v.health))
		}
	}
	if len(waiting) == 0 {
		return workflow.Progress{Done: true, Message: "applied and healthy"}
	}
	return workflow.Progress{Message: strings.Join(waiting, "; ")}
}

// AppHealthy reports whether every env of another app is healthy, at
// revision when set (a prefix of the commit or the revision string).
func (w *world) AppHealthy(_ context.Context, app, revision string) workflow.Progress {
	return w.d.store.appHealthy(app, revision)
}

// maxNotifyBody bounds what is read of a notify answer.
const maxNotifyBody = 64 << 10

// Notify posts payload as JSON.
func (w *world) Notify(ctx context.Context, url string, payload any) error {
	body, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return errors.New(sanitize(err, time.Time{}).Message)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.d.httpClient.Do(req)
	if err != nil {
		return errors.New(sanitize(err, time.Time{}).Message)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxNotifyBody))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("notify endpoint answered %d", resp.StatusCode)
	}
	return nil
}
