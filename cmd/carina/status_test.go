package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/carina-gitops/carina/agent/api"
)

type fixedStatus struct{ app api.AppStatus }

func (f fixedStatus) Apps() []api.AppSummary {
	s := api.AppSummary{Name: f.app.Name, Source: f.app.Source, Revision: f.app.Revision}
	for _, e := range f.app.Envs {
		s.Envs = append(s.Envs, api.EnvSummary{Name: e.Name, Clusters: e.Clusters, Revision: e.Revision, Sync: e.Sync, Health: e.Health, Drifted: len(e.Drift)})
	}
	return []api.AppSummary{s}
}
func (f fixedStatus) App(n string) (api.AppStatus, bool) { return f.app, n == f.app.Name }
func (f fixedStatus) Env(string, string) (api.EnvStatus, bool) {
	return api.EnvStatus{}, false
}

func (f fixedStatus) Sources() []api.SourceStatus {
	return []api.SourceStatus{{Name: "apps", Revision: "main@sha1:89abcdef0123", Apps: 4, PruneHeld: &api.PruneHold{
		Revision: "main@sha1:89abcdef0123", Apps: []string{"blog", "shop", "wiki"}, Items: []string{"blog", "shop", "wiki (prod in eu)"}, Deployments: 3, Total: 4}}}
}

type resumer struct{ resumed, confirmed []string }

func (r *resumer) ConfirmPrune(_ context.Context, source, revision string) (api.PruneHold, error) {
	r.confirmed = append(r.confirmed, source+"@"+revision)
	return api.PruneHold{Revision: "main@sha1:89abcdef0123", Items: []string{"blog", "shop"}, Deployments: 2, Total: 4}, nil
}

func (r *resumer) Reconcile(context.Context, string) error { return nil }
func (r *resumer) Suspend(context.Context, string) error   { return nil }
func (r *resumer) Resume(_ context.Context, app string) error {
	r.resumed = append(r.resumed, app)
	return nil
}

func startAPI(t *testing.T, ctl api.Controller) string {
	t.Helper()
	st := fixedStatus{app: api.AppStatus{Name: "shop", Source: "apps", Revision: "main@sha1:0123456789abcdef0123",
		Workflow: []api.StepStatus{{Name: "deploy-staging", Type: "deploy", Phase: api.StepSucceeded}, {Name: "approve", Type: "suspend", Phase: api.StepSuspended, Message: "waiting for carina resume"}},
		Envs: []api.EnvStatus{{Name: "staging", Clusters: []string{"staging"}, Namespace: "shop", Revision: "main@sha1:0123456789abcdef0123", Sync: api.SyncOutOfSync, Health: api.HealthHealthy,
			Drift: []api.DriftStatus{{Cluster: "staging", Kind: "ConfigMap", Namespace: "shop", Name: "flags", Reason: "modified", State: api.DriftReported}}}}}}
	h, err := api.NewHandler(api.Options{Status: st, Control: ctl, Token: []byte("tok"), AllowWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestPruneConfirm(t *testing.T) {
	r := &resumer{}
	url := startAPI(t, r)
	if _, err := run(t, "prune", "confirm", "apps", "--server", url, "--token", "tok"); err == nil || !strings.Contains(err.Error(), "--revision") {
		t.Errorf("confirm without a revision: err = %v", err)
	}
	out, err := run(t, "prune", "confirm", "apps", "--revision", "89abcde", "--server", url, "--token", "tok")
	if err != nil {
		t.Fatal(err)
	}
	if want := "source apps at main@sha1:89abcdef0123: pruning 2 deployments:\n  blog\n  shop\n"; out != want {
		t.Errorf("out = %q, want %q", out, want)
	}
	if len(r.confirmed) != 1 || r.confirmed[0] != "apps@89abcde" {
		t.Errorf("confirmed %v", r.confirmed)
	}
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	return out.String(), err
}

func TestStatusTableAndJSON(t *testing.T) {
	url := startAPI(t, &resumer{})
	out, err := run(t, "status", "--server", url, "--token", "tok")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"APP", "shop", "staging", "main@sha1:0123456789ab", "OutOfSync", "Healthy", "1 drifted",
		"PRUNE HELD: source apps at main@sha1:89abcdef0123 would remove 3 of 4 deployments:\n  blog\n  shop\n  wiki (prod in eu)\n",
		"carina prune confirm apps --revision 89abcdef0123"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	out, err = run(t, "status", "shop", "-o", "json", "--server", url, "--token", "tok")
	if err != nil {
		t.Fatal(err)
	}
	var app api.AppStatus
	if err := json.Unmarshal([]byte(out), &app); err != nil || app.Workflow[1].Phase != api.StepSuspended {
		t.Errorf("json = %v, %+v", err, app)
	}
	out, err = run(t, "status", "shop", "--server", url, "--token", "tok")
	if err != nil || !strings.Contains(out, "approve") || !strings.Contains(out, "suspended") ||
		!regexp.MustCompile(`staging\s+staging\s+ConfigMap/shop/flags\s+modified\s+Reported`).MatchString(out) {
		t.Errorf("app view = %v\n%s", err, out)
	}
	if _, err := run(t, "status", "--server", url); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("without a token: err = %v, want a 401", err)
	}
}

func TestResumeCallsTheAPI(t *testing.T) {
	r := &resumer{}
	url := startAPI(t, r)
	out, err := run(t, "resume", "shop", "--server", url, "--token", "tok")
	if err != nil {
		t.Fatal(err)
	}
	if out != "shop: resumed\n" || len(r.resumed) != 1 || r.resumed[0] != "shop" {
		t.Errorf("out %q, resumed %v", out, r.resumed)
	}
}
