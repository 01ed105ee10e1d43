package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxResponseBytes bounds a response the client reads.
const maxResponseBytes = 32 << 20

// Client calls the agent's API; carina status and carina resume use it.
type Client struct {
	// BaseURL is the agent's address, "http://127.0.0.1:8080".
	BaseURL string
	// Token is sent as a bearer token when set.
	Token string
	// HTTP is the client to use; nil means one with a 30 s timeout.
	HTTP *http.Client
}

// Apps lists the applications.
func (c *Client) Apps(ctx context.Context) ([]AppSummary, error) {
	var out []AppSummary
	return out, c.do(ctx, http.MethodGet, "/api/v1/apps", &out)
}

// App returns one application.
func (c *Client) App(ctx context.Context, app string) (AppStatus, error) {
	var out AppStatus
	return out, c.do(ctx, http.MethodGet, "/api/v1/apps/"+url.PathEscape(app), &out)
}

// Env returns one environment of an application.
func (c *Client) Env(ctx context.Context, app, env string) (EnvStatus, error) {
	var out EnvStatus
	return out, c.do(ctx, http.MethodGet, "/api/v1/apps/"+url.PathEscape(app)+"/envs/"+url.PathEscape(env), &out)
}

// Reconcile asks for a reconcile of app now.
func (c *Client) Reconcile(ctx context.Context, app string) (Accepted, error) {
	return c.post(ctx, app, "reconcile")
}

// Suspend suspends app.
func (c *Client) Suspend(ctx context.Context, app string) (Accepted, error) {
	return c.post(ctx, app, "suspend")
}

// Resume resumes app and its suspended workflow steps.
func (c *Client) Resume(ctx context.Context, app string) (Accepted, error) {
	return c.post(ctx, app, "resume")
}

// Sources lists the application sources and the prunes held.
func (c *Client) Sources(ctx context.Context) ([]SourceStatus, error) {
	var out []SourceStatus
	return out, c.do(ctx, http.MethodGet, "/api/v1/sources", &out)
}

// ConfirmPrune lets the prune held for source at revision go.
func (c *Client) ConfirmPrune(ctx context.Context, source, revision string) (PruneHold, error) {
	var out PruneHold
	return out, c.do(ctx, http.MethodPost, "/api/v1/sources/"+url.PathEscape(source)+"/prune/confirm?revision="+url.QueryEscape(revision), &out)
}

func (c *Client) post(ctx context.Context, app, verb string) (Accepted, error) {
	var out Accepted
	return out, c.do(ctx, http.MethodPost, "/api/v1/apps/"+url.PathEscape(app)+"/"+verb, &out)
}

// StatusError is an error answer of the API.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string { return fmt.Sprintf("agent answered %d: %s", e.Code, e.Msg) }

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, nil)
	if err != nil {
		return fmt.Errorf("agent request %s: %w", path, err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("agent at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("agent response to %s: %w", path, err)
	}
	if resp.StatusCode >= 300 {
		var eb ErrorBody
		if json.Unmarshal(body, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(body))
		}
		return &StatusError{Code: resp.StatusCode, Msg: eb.Error}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("agent response to %s: %w", path, err)
	}
	return nil
}
