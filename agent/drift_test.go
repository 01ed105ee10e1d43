package agent

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/drift"
)

// TestDriftConfig: the drift section turns the watchers off and sets
// the contest bounds the agent decides with.
func TestDriftConfig(t *testing.T) {
	m, err := apply.New(&rest.Config{Host: "https://127.0.0.1:1"}, apply.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		drift    string
		watchers int
		contest  int // the correction that is held off
	}{
		{"", 1, 4},
		{"drift: {enabled: false}", 0, 4},
		{"drift: {contestCorrections: 1}", 1, 2},
	} {
		t.Run(tt.drift, func(t *testing.T) {
			cfg, err := config.Parse("carina.yaml", []byte(fmt.Sprintf(`
sources: {apps: [{name: a, url: "https://git.example.com/a.git"}]}
clusters: [{name: local, inCluster: true}]
cacheDir: %s
%s
`, t.TempDir(), tt.drift)))
			if err != nil {
				t.Fatal(err)
			}
			a, err := New(Options{Config: cfg, Targets: map[string]Target{"local": m}})
			if err != nil {
				t.Fatal(err)
			}
			if err := a.drift.build(map[string]*rest.Config{"local": {Host: "https://127.0.0.1:1"}}, a.targets.clusters); err != nil {
				t.Fatal(err)
			}
			if len(a.drift.watchers) != tt.watchers {
				t.Errorf("%d watchers, want %d", len(a.drift.watchers), tt.watchers)
			}
			now := time.Now()
			for i := 1; i <= tt.contest; i++ {
				d := a.drift.contests.Decide("obj", now)
				if held := d.State == drift.Contested; held != (i == tt.contest) {
					t.Errorf("correction %d: %s", i, d.State)
				}
			}
		})
	}
}
