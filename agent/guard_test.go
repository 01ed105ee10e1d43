package agent

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/apply/inventory"
)

// TestGuardDecisions walks the mass-deletion guard through loads of one
// source, with no cluster: what it counts (apps, environments and
// clusters alike, as deployments), what it holds, what a confirmation
// lets go, and what it never counts (apps of broken files, apps that
// moved). The e2e tests (e2e_guard_test.go) prove the same on a real
// cluster with the audit log.
func TestGuardDecisions(t *testing.T) {
	d := newDecisions(t)
	d.srcs["a"].cfg.AllowEmpty = false
	shop := func(envs ...string) *desiredApp { return d.app("a", "shop", "shop/Appfile", envs...) }
	blog := d.app("a", "blog", "blog/Appfile", "default")
	wiki := d.app("a", "wiki", "wiki/Appfile", "default")
	docs := d.app("a", "docs", "docs/Appfile", "default")
	d.load("a", []*desiredApp{shop("staging", "prod"), blog, wiki, docs})
	d.state()
	hold := func() *pruneHold {
		d.a.catalog.mu.Lock()
		defer d.a.catalog.mu.Unlock()
		return d.srcs["a"].hold
	}

	// 3 of 5 deployments: held; every app stays desired, none is removed.
	d.load("a", []*desiredApp{shop("staging", "prod")})
	s := d.state()
	h := hold()
	if h == nil || h.gone != 3 || h.total != 5 || !slices.Equal(h.apps, []string{"blog", "docs", "wiki"}) {
		t.Fatalf("3 of 5 removed: hold = %+v", h)
	}
	if want := []string{"blog", "docs", "shop", "wiki"}; !slices.Equal(s.Desired, want) || len(s.Removals) > 0 || len(s.Queued) > 0 {
		t.Errorf("held: desired %v (want %v), removals %v, queued %v", s.Desired, want, s.Removals, s.Queued)
	}
	for _, line := range s.Status {
		if held := !strings.HasPrefix(line, "shop"); held != strings.Contains(line, "error=prune held by the mass-deletion guard") {
			t.Errorf("status line %q", line)
		}
	}
	if m := metricText(t, d.a.rec.Collectors()...); !strings.Contains(m, `carina_prune_held{source="a"} 3`) {
		t.Errorf("metric:\n%s", grep(m, "carina_prune_held"))
	}

	// 1 of 5: pruned, and the hold is lifted with the apps' errors.
	d.load("a", []*desiredApp{shop("staging", "prod"), wiki, docs})
	s = d.state()
	if h := hold(); h != nil {
		t.Errorf("1 of 5 removed: hold = %+v", h)
	}
	if want := []string{"a: blog/default whole=true [local]"}; !cmp.Equal(s.Removals, want) {
		t.Errorf("1 of 5: removals %v, want %v", s.Removals, want)
	}
	for _, line := range s.Status {
		if strings.Contains(line, "error=") && !strings.HasPrefix(line, "blog") {
			t.Errorf("error left after the hold lifted: %q", line)
		}
	}
	d.a.removals.mu.Lock()
	clear(d.a.removals.bySource)
	d.a.removals.mu.Unlock()

	// An environment and whole apps count alike: prod, wiki and docs
	// are 3 of 4. shop keeps its last desired state, prod included.
	d.load("a", []*desiredApp{shop("staging")})
	s = d.state()
	h = hold()
	if h == nil || h.gone != 3 || h.total != 4 || !slices.Equal(h.items, []string{"docs", "shop (prod in local)", "wiki"}) {
		t.Fatalf("prod, wiki and docs removed: hold = %+v", h)
	}
	if e, ok := d.a.catalog.env("shop", "prod"); !ok || len(s.Removals) > 0 {
		t.Errorf("held: shop/prod desired %v (%+v), removals %v", ok, e, s.Removals)
	}

	// A confirmation names the held revision; another is refused.
	if _, err := d.a.catalog.confirmPrune("a", "main@sha1:c0"); !errors.Is(err, api.ErrConflict) {
		t.Errorf("confirm of another revision: err = %v", err)
	}
	if _, err := d.a.catalog.confirmPrune("b", "c1"); !errors.Is(err, api.ErrConflict) {
		t.Errorf("confirm of a source without a hold: err = %v", err)
	}
	if _, err := d.a.catalog.confirmPrune("nope", "c1"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("confirm of an unknown source: err = %v", err)
	}
	if _, err := d.a.catalog.confirmPrune("a", "c1"); err != nil {
		t.Fatal(err)
	}
	d.load("a", []*desiredApp{shop("staging")})
	s = d.state()
	want := []string{"a: docs/default whole=true [local]", "a: shop/prod whole=false [local]", "a: wiki/default whole=true [local]"}
	if hold() != nil || !cmp.Equal(s.Removals, want) {
		t.Errorf("confirmed: hold %+v, removals %v, want %v", hold(), s.Removals, want)
	}
	d.a.removals.mu.Lock()
	clear(d.a.removals.bySource)
	d.a.removals.mu.Unlock()

	// Apps absent from a load with broken files are not counted (they
	// may have moved into a broken file), nor are apps another source
	// takes over.
	d.load("a", []*desiredApp{shop("staging"), wiki, docs})
	d.state()
	d.load("a", []*desiredApp{shop("staging")}, "new/Appfile")
	if h := hold(); h != nil {
		t.Errorf("a load with broken files: hold = %+v", h)
	}
	d.load("b", []*desiredApp{d.app("b", "wiki", "wiki/Appfile", "default"), d.app("b", "docs", "docs/Appfile", "default")})
	d.load("a", []*desiredApp{shop("staging")})
	if h := hold(); h != nil {
		t.Errorf("apps moved to another source: hold = %+v", h)
	}
}

// TestNewHoldThresholds: the share that trips the guard, per source.
func TestNewHoldThresholds(t *testing.T) {
	lost := func(n int) []loss {
		var out []loss
		for i := range n {
			out = append(out, loss{app: string(rune('a' + i)), whole: true, envs: map[string][]string{"default": {"local"}}})
		}
		return out
	}
	frac := func(f float64) *float64 { return &f }
	tests := []struct {
		name      string
		src       config.Source
		gone      int
		total     int
		confirmed string
		held      bool
	}{
		{name: "nothing lost", gone: 0, total: 4},
		{name: "half is within the default", gone: 2, total: 4},
		{name: "more than half", gone: 3, total: 4, held: true},
		{name: "all of one", gone: 1, total: 1, held: true},
		{name: "all, with a fraction of 1", src: config.Source{MaxPruneFraction: frac(1)}, gone: 4, total: 4, held: true},
		{name: "most, with a fraction of 1", src: config.Source{MaxPruneFraction: frac(1)}, gone: 3, total: 4},
		{name: "one of ten over a fraction of 0.05", src: config.Source{MaxPruneFraction: frac(0.05)}, gone: 1, total: 10, held: true},
		{name: "allowEmpty", src: config.Source{AllowEmpty: true}, gone: 4, total: 4},
		{name: "prune: false", src: config.Source{Prune: new(false)}, gone: 4, total: 4},
		{name: "confirmed", gone: 4, total: 4, confirmed: "main@sha1:c1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHold(tt.src, "main@sha1:c1", tt.confirmed, lost(tt.gone), tt.total, false)
			if (h != nil) != tt.held {
				t.Errorf("hold = %+v, want held %v", h, tt.held)
			}
		})
	}
}

func TestRevisionMatches(t *testing.T) {
	rev := "main@sha1:0123456789abcdef"
	for typed, want := range map[string]bool{rev: true, "0123456789abcdef": true, "0123456": true, "012345": false, "": false, "1123456": false} {
		if got := revisionMatches(rev, typed); got != want {
			t.Errorf("revisionMatches(%q) = %v, want %v", typed, got, want)
		}
	}
}

// metricText is the text exposition of collectors.
func metricText(t *testing.T, collectors ...prometheus.Collector) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// TestOnlyCorrupt: a listing whose errors are all undecodable
// inventories is complete; any other error is not.
func TestOnlyCorrupt(t *testing.T) {
	corrupt := &inventory.CorruptError{Ref: "ConfigMap/carina-system/carina-inv.a.b", Err: errors.New("bad")}
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{corrupt, true},
		{errors.Join(corrupt, corrupt), true},
		{errors.Join(corrupt, errors.New("list failed: forbidden")), false},
		{errors.New("list failed"), false},
	} {
		if got := onlyCorrupt(tt.err); got != tt.want {
			t.Errorf("onlyCorrupt(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
