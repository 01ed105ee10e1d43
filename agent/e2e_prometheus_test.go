package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dashboard is the part of deploy/grafana/carina.json the test reads.
type dashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// startPrometheus runs the Debian prometheus binary scraping target
// every second, and returns its base URL.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		// make test installs it (make deps); a missing one is a failure,
		// never a silent skip.
		t.Fatal("needs prometheus (Debian package prometheus; make deps installs it)")
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf("global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n  - job_name: carina\n    static_configs: [{targets: [%q]}]\n", target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	return "http://" + addr
}

// promQuery runs an instant query and returns the number of series.
func promQuery(base, expr string) (int, error) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, err
	}
	if out.Status != "success" {
		return 0, fmt.Errorf("query %s: %s", expr, out.Error)
	}
	return len(out.Data.Result), nil
}

// TestGrafanaPanelsReturnDataFromRealPrometheus: a real Prometheus scrapes
// a running agent that deploys, redeploys and undoes a kubectl edit;
// every panel's query of the dashboard is valid and returns data (the
// drift panels' "or vector(0)" fallback is left out, so that they must
// find the drift series).
func TestGrafanaPanelsReturnDataFromRealPrometheus(t *testing.T) {
	_, cs := needCluster(t)
	raw, err := os.ReadFile("../deploy/grafana/carina.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash dashboard
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	ns := testNS("prom")
	app := ns + "-shop"
	createNamespaces(t, cs, ns)
	repo := newGitRepo(t)
	repo.commit("v1", map[string]string{app + "/Appfile": simpleAppfile(app, ns, "v1")})
	r := startAgent(t, agentConfig(t, repo.url(), "", ""))
	prom := startPrometheus(t, strings.TrimPrefix(r.addr, "http://"))
	eventually(t, 30*time.Second, "shop healthy", healthyEnv(r, app, "default"))
	time.Sleep(2 * time.Second)
	repo.commit("v2", map[string]string{app + "/Appfile": simpleAppfile(app, ns, "v2")})
	r.hook(t)
	eventually(t, 20*time.Second, "v2 applied", func() (bool, string) {
		got := configMapData(t, cs, ns, app)
		return got == "v2", got
	})
	if err := edit(t.Context(), cs, ns, app, "by hand"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "kubectl edit undone", func() (bool, string) {
		got := configMapData(t, cs, ns, app)
		return got == "v2", got
	})
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			expr := tg.Expr
			if strings.Contains(expr, "carina_drift_") {
				expr = strings.ReplaceAll(expr, " or vector(0)", "")
			}
			eventually(t, 30*time.Second, "panel "+p.Title, func() (bool, string) {
				n, err := promQuery(prom, expr)
				if err != nil {
					return false, err.Error()
				}
				return n > 0, fmt.Sprintf("%d series for %s", n, expr)
			})
		}
	}
}
