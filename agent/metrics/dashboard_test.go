package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var metricName = regexp.MustCompile(`\b(carina_[a-z_]+?)(?:_bucket|_count|_sum)?\b`)

// TestDashboardAndRulesUseOnlyTheDesignTable checks that every carina_
// name in the Grafana dashboard and the Prometheus rules is in the table.
func TestDashboardAndRulesUseOnlyTheDesignTable(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/grafana/carina.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile("../../deploy/prometheus/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	exprs := []string{string(rules)}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	used := map[string]bool{}
	for _, e := range exprs {
		for _, m := range metricName.FindAllStringSubmatch(e, -1) {
			name := m[1]
			for _, suf := range []string{"_bucket", "_count", "_sum"} {
				if base := strings.TrimSuffix(name, suf); base != name && slices.Contains(designNames, base) {
					name = base
				}
			}
			used[name] = true
			if !slices.Contains(designNames, name) {
				t.Errorf("%s is not in DESIGN.md's metric table", name)
			}
		}
	}
	for _, n := range designNames {
		if !used[n] {
			t.Errorf("no panel or rule shows %s", n)
		}
	}
}
