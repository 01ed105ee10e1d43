package agent

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/drift"
	"github.com/carina-gitops/carina/source"
)

// decisions is an agent without clusters or pollers, with two app
// sources, a and b, for the removal decisions of setDesired.
type decisions struct {
	t    *testing.T
	a    *Agent
	srcs map[string]*sourceState
	snap *source.Snapshot
}

func newDecisions(t *testing.T) *decisions {
	t.Helper()
	cfg, err := config.Parse("carina.yaml", []byte(fmt.Sprintf(`
sources:
  apps:
    - {name: a, url: "https://git.example.com/a.git", allowEmpty: true}
    - {name: b, url: "https://git.example.com/b.git", allowEmpty: true}
clusters: [{name: local, inCluster: true}]
cacheDir: %s
`, t.TempDir())))
	if err != nil {
		t.Fatal(err)
	}
	ag, err := New(Options{Config: cfg, Targets: map[string]Target{}})
	if err != nil {
		t.Fatal(err)
	}
	d := &decisions{t: t, a: ag, srcs: map[string]*sourceState{}, snap: &source.Snapshot{Ref: "refs/heads/main", Commit: "c1"}}
	for _, s := range cfg.Sources.Apps {
		st := &sourceState{cfg: s, wake: make(chan struct{}, 1), snap: d.snap}
		ag.catalog.addSource(st)
		d.srcs[s.Name] = st
	}
	return d
}

// app is a desired app of source src, defined in file, with envs.
func (d *decisions) app(src, name, file string, envs ...string) *desiredApp {
	da := &desiredApp{Name: name, Source: src, Snapshot: d.snap, App: &appfile.Application{Name: name, Pos: appfile.Position{File: file, Line: 1, Col: 1}},
		Inputs: map[string]string{}, Release: "r1"}
	for _, e := range envs {
		da.Envs = append(da.Envs, appfile.Environment{Name: e, Clusters: []string{"local"}})
		da.Inputs[e] = "i1"
	}
	return da
}

// load sets a load of src holding apps, with broken files.
func (d *decisions) load(src string, apps []*desiredApp, broken ...string) {
	l := &loaded{snap: d.snap, apps: apps, broken: map[string]bool{}}
	for _, f := range broken {
		l.broken[f] = true
		l.errs = append(l.errs, &appfile.Error{Pos: appfile.Position{File: f, Line: 1}, Msg: "broken"})
	}
	d.a.feed.take(d.t.Context(), d.srcs[src], l)
}

// decisionState is what the decisions left: desired apps, pending removals,
// status lines, and the removal items queued (the queue is drained).
type decisionState struct {
	Desired  []string
	Removals []string
	Status   []string
	Queued   []string
}

// removalLine shows a pending removal; stays, held and running only when
// they are set.
func removalLine(src string, k envKey, rm *removal) string {
	line := fmt.Sprintf("%s: %s/%s whole=%v %v", src, k.app, k.env, rm.whole, rm.clusters)
	if rm.stays {
		line += " stays"
	}
	if len(rm.held) > 0 {
		line += fmt.Sprintf(" held=%v", rm.held)
	}
	if rm.running {
		line += fmt.Sprintf(" running back=%v", rm.back)
	}
	return line
}

func (d *decisions) state() decisionState {
	var s decisionState
	d.a.catalog.mu.Lock()
	s.Desired = slices.Sorted(maps.Keys(d.a.catalog.apps))
	d.a.catalog.mu.Unlock()
	s.Removals = d.removalLines()
	slices.Sort(s.Removals)
	for _, app := range d.a.Status().Apps() {
		line := app.Name
		for _, e := range app.Envs {
			line += " " + e.Name + ":" + string(e.Sync)
		}
		if app.Error != "" {
			line += " error=" + app.Error
		}
		s.Status = append(s.Status, line)
	}
	for d.a.work.q.Len() > 0 {
		it, _ := d.a.work.q.Get()
		if it.Remove {
			s.Queued = append(s.Queued, it.App+"/"+it.Env)
		}
		d.a.work.q.Done(it)
		d.a.work.q.Forget(it)
	}
	slices.Sort(s.Queued)
	return s
}

// removalLines shows every pending removal, sorted.
func (d *decisions) removalLines() []string {
	d.a.removals.mu.Lock()
	defer d.a.removals.mu.Unlock()
	var out []string
	for name, m := range d.a.removals.bySource {
		for k, rm := range m {
			out = append(out, removalLine(name, k, rm))
		}
	}
	slices.Sort(out)
	return out
}

// startRemoval starts the removal item of (app, env), as the work item
// does: the clusters the env names again leave it.
func (d *decisions) startRemoval(app, env string) (string, *removal) {
	var desired []string
	if e, ok := d.a.catalog.env(app, env); ok {
		desired = e.Clusters
	}
	return d.a.removals.start(app, env, desired)
}

// TestRemovedDecisions walks setDesired through the cases of a removal:
// a broken file keeps its app, a snapshot with broken files holds
// removals, a clean one prunes an app or an environment, a re-add calls
// a pending removal off, an app another source declares is handed over,
// and prune: false only forgets. No cluster is needed.
func TestRemovedDecisions(t *testing.T) {
	d := newDecisions(t)
	shop := d.app("a", "shop", "shop/Appfile", "staging", "prod")
	blog := d.app("a", "blog", "blog/Appfile", "default")
	d.load("a", []*desiredApp{shop, blog})
	d.state()

	steps := []struct {
		name string
		do   func()
		want decisionState
	}{{
		name: "shop's file broken, blog absent: shop kept, blog held",
		do:   func() { d.load("a", nil, "shop/Appfile") },
		want: decisionState{
			Desired: []string{"blog", "shop"},
			Status: []string{
				"blog default:Unknown error=absent from source a at main@sha1:c1, which has broken application files: not removed until they load",
				"shop staging:Unknown prod:Unknown",
			},
		},
	}, {
		name: "clean snapshot without blog: blog pruned",
		do:   func() { d.load("a", []*desiredApp{shop}) },
		want: decisionState{
			Desired:  []string{"shop"},
			Removals: []string{"a: blog/default whole=true [local]"},
			Status:   []string{"blog default:Pruning error=removed from source a at main@sha1:c1; pruning", "shop staging:Unknown prod:Unknown"},
			Queued:   []string{"blog/default"},
		},
	}, {
		name: "blog back before its prune ran: the removal is called off",
		do:   func() { d.load("a", []*desiredApp{shop, blog}) },
		want: decisionState{
			Desired: []string{"blog", "shop"},
			Status:  []string{"blog default:Unknown", "shop staging:Unknown prod:Unknown"},
		},
	}, {
		name: "prod removed from shop: prod pruned, shop stays",
		do:   func() { d.load("a", []*desiredApp{d.app("a", "shop", "shop/Appfile", "staging"), blog}) },
		want: decisionState{
			Desired:  []string{"blog", "shop"},
			Removals: []string{"a: shop/prod whole=false [local]"},
			Status:   []string{"blog default:Unknown", "shop staging:Unknown prod:Pruning"},
			Queued:   []string{"shop/prod"},
		},
	}, {
		name: "blog moves to source b, which declared it already: handed over, not pruned",
		do: func() {
			d.load("b", []*desiredApp{d.app("b", "blog", "blog/Appfile", "default")})
			d.load("a", []*desiredApp{d.app("a", "shop", "shop/Appfile", "staging")})
		},
		want: decisionState{
			Desired:  []string{"shop"},
			Removals: []string{"a: shop/prod whole=false [local]"},
			Status:   []string{"blog default:Unknown", "shop staging:Unknown prod:Pruning"},
		},
	}, {
		name: "source b takes blog over on its reload",
		do: func() {
			if !d.a.catalog.takeReload(d.srcs["b"]) {
				t.Error("source b was not asked to reload")
			}
			d.load("b", []*desiredApp{d.app("b", "blog", "blog/Appfile", "default")})
		},
		want: decisionState{
			Desired:  []string{"blog", "shop"},
			Removals: []string{"a: shop/prod whole=false [local]"},
			Status:   []string{"blog default:Unknown", "shop staging:Unknown prod:Pruning"},
		},
	}, {
		name: "prune: false forgets a removed app",
		do: func() {
			d.srcs["b"].cfg.Prune = new(false)
			d.load("b", nil)
		},
		want: decisionState{
			Desired:  []string{"shop"},
			Removals: []string{"a: shop/prod whole=false [local]"},
			Status:   []string{"shop staging:Unknown prod:Pruning"},
		},
	}}
	for _, step := range steps {
		step.do()
		if diff := cmp.Diff(step.want, d.state()); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", step.name, diff)
		}
	}
}

// TestRemovedInventoryOwnership: which inventories a removal may delete.
func TestRemovedInventoryOwnership(t *testing.T) {
	src := config.Source{Name: "apps", URL: "https://github.com/Acme/Shop.git", Path: "./deploy/"}
	if got, want := sourceRepo(src), "github.com/acme/shop//deploy"; got != want {
		t.Errorf("sourceRepo = %q, want %q", got, want)
	}
	mine := map[string]string{extraSource: "apps", extraRepo: "github.com/acme/shop//deploy"}
	tests := []struct {
		name   string
		extra  map[string]string
		orphan bool
		want   string
	}{
		{"this source", mine, false, ""},
		{"this source, found after a restart", mine, true, ""},
		{"an agent before the source key, seen live", map[string]string{extraInputs: "sha256:x"}, false, ""},
		{"an agent before the source key, after a restart", map[string]string{extraInputs: "sha256:x"}, true, "it names no source (carina apply, or another tool)"},
		{"carina apply", nil, false, "it names no source (carina apply, or another tool)"},
		{"another source", map[string]string{extraSource: "web"}, false, "it belongs to source web"},
		{"the same name in another repository", map[string]string{extraSource: "apps", extraRepo: "github.com/acme/shop"}, true, "it belongs to repository github.com/acme/shop"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := foreignInventory(src, &removal{orphan: tc.orphan}, &inventory.Inventory{Extra: tc.extra})
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("foreignInventory (-want +got):\n%s", diff)
			}
		})
	}
}

// appOn is a desired app of source src whose envs are given as
// "name=cluster,cluster"; an env's inputs change with its clusters, as
// computeInputs makes them.
func (d *decisions) appOn(src, name, file string, envs ...string) *desiredApp {
	da := d.app(src, name, file)
	for _, spec := range envs {
		env, clusters, _ := strings.Cut(spec, "=")
		da.Envs = append(da.Envs, appfile.Environment{Name: env, Clusters: strings.Split(clusters, ",")})
		da.Inputs[env] = "i-" + clusters
	}
	da.Release = fmt.Sprint(da.Inputs)
	return da
}

// clusterState is what the decisions about clusters left: pending
// removals, status lines, the drifted objects recorded (cluster/name),
// the items queued (the queue is drained) and the envs whose next
// reconcile skips the fast path.
type clusterState struct {
	Removals []string
	Status   []string
	Drift    []string
	Removes  []string
	Applies  []string
	Forced   []string
}

func (d *decisions) clusterState() clusterState {
	var s clusterState
	s.Removals = d.removalLines()
	for _, app := range d.a.Status().Apps() {
		line := app.Name
		for _, e := range app.Envs {
			line += " " + e.Name + ":" + string(e.Sync)
		}
		s.Status = append(s.Status, line)
	}
	d.a.drift.mu.Lock()
	for _, entries := range d.a.drift.findings {
		for _, e := range entries {
			s.Drift = append(s.Drift, e.f.Cluster+"/"+e.f.ID.Name)
		}
	}
	d.a.drift.mu.Unlock()
	d.a.reconciler.mu.Lock()
	for k, on := range d.a.reconciler.forced {
		if on {
			s.Forced = append(s.Forced, k.app+"/"+k.env)
		}
	}
	d.a.reconciler.mu.Unlock()
	for d.a.work.q.Len() > 0 {
		it, _ := d.a.work.q.Get()
		switch {
		case it.Remove:
			s.Removes = append(s.Removes, it.App+"/"+it.Env)
		case it.Env != "":
			s.Applies = append(s.Applies, it.App+"/"+it.Env)
		}
		d.a.work.q.Done(it)
		d.a.work.q.Forget(it)
	}
	for _, l := range [][]string{s.Drift, s.Removes, s.Applies, s.Forced} {
		slices.Sort(l)
	}
	return s
}

// drifted records a drifted object of (app, env) in cluster, as a
// watcher's finding would.
func (d *decisions) drifted(app, env, cluster string) {
	f := drift.Finding{App: app, Env: env, Cluster: cluster, ID: apply.ID{Kind: "ConfigMap", Namespace: "ns", Name: app}}
	d.a.drift.mu.Lock()
	k := envKey{app, env}
	if d.a.drift.findings[k] == nil {
		d.a.drift.findings[k] = map[string]*driftEntry{}
	}
	d.a.drift.findings[k][f.Key()] = &driftEntry{f: f, state: api.DriftCorrecting}
	d.a.drift.mu.Unlock()
}

// TestRemovedClusterDecisions walks setDesired and the removal item
// through the clusters that leave an environment that stays: exactly
// those get a removal that leaves the env's status alone and forgets its
// drift there; a re-add calls it off (at once, or after a running prune,
// with a forced apply); a load with broken files holds it until a clean
// one; a removal of the whole env or app covers it; one of the whole env
// that comes back with fewer clusters goes on for the others; prune:
// false only forgets. No cluster is needed.
func TestRemovedClusterDecisions(t *testing.T) {
	d := newDecisions(t)
	blog := d.app("a", "blog", "blog/Appfile", "default")
	both := func() *desiredApp {
		return d.appOn("a", "shop", "shop/Appfile", "staging=local", "prod=local,second,third")
	}
	onlyLocal := func() *desiredApp {
		return d.appOn("a", "shop", "shop/Appfile", "staging=local", "prod=local")
	}
	d.load("a", []*desiredApp{both(), blog})
	d.clusterState()

	steps := []struct {
		name string
		do   func()
		want clusterState
	}{{
		name: "second and third leave prod: a removal of exactly them; prod's status and local's drift stay",
		do: func() {
			d.drifted("shop", "prod", "local")
			d.drifted("shop", "prod", "second")
			d.load("a", []*desiredApp{onlyLocal(), blog})
		},
		want: clusterState{
			Removals: []string{"a: shop/prod whole=false [second third] stays"},
			Status:   []string{"blog default:Unknown", "shop staging:Unknown prod:Unknown"},
			Drift:    []string{"local/shop"},
			Removes:  []string{"shop/prod"},
			Applies:  []string{"shop/prod"},
		},
	}, {
		name: "second back before the prune ran: called off for second only",
		do: func() {
			d.load("a", []*desiredApp{d.appOn("a", "shop", "shop/Appfile", "staging=local", "prod=local,second"), blog})
		},
		want: clusterState{
			Removals: []string{"a: shop/prod whole=false [third] stays"},
			Status:   []string{"blog default:Unknown", "shop staging:Unknown prod:Unknown"},
			Drift:    []string{"local/shop"},
			Applies:  []string{"shop/prod"},
		},
	}, {
		name: "third back too: nothing left to prune",
		do:   func() { d.load("a", []*desiredApp{both(), blog}) },
		want: clusterState{
			Status:  []string{"blog default:Unknown", "shop staging:Unknown prod:Unknown"},
			Drift:   []string{"local/shop"},
			Applies: []string{"shop/prod"},
		},
	}, {
		name: "dropped in a snapshot with broken files: held, not queued",
		do:   func() { d.load("a", []*desiredApp{onlyLocal(), blog}, "other/Appfile") },
		want: clusterState{
			Removals: []string{"a: shop/prod whole=false [] stays held=[second third]"},
			Status:   []string{"blog default:Unknown", "shop staging:Unknown prod:Unknown"},
			Drift:    []string{"local/shop"},
			Applies:  []string{"shop/prod"},
		},
	}, {
		name: "the next clean load releases the held clusters",
		do:   func() { d.load("a", []*desiredApp{onlyLocal(), blog}) },
		want: clusterState{
			Removals: []string{"a: shop/prod whole=false [second third] stays"},
			Status:   []string{"blog default:Unknown", "shop staging:Unknown prod:Unknown"},
			Drift:    []string{"local/shop"},
			Removes:  []string{"shop/prod"},
		},
	}, {
		name: "second back while the prune runs: the env waits, then is applied again without the fast path",
		do: func() {
			st, cp := d.startRemoval("shop", "prod")
			if cp == nil || !slices.Equal(cp.clusters, []string{"second", "third"}) {
				t.Fatalf("startRemoval = %+v", cp)
			}
			d.load("a", []*desiredApp{d.appOn("a", "shop", "shop/Appfile", "staging=local", "prod=local,second"), blog})
			if got := d.clusterState(); !slices.Equal(got.Removals, []string{"a: shop/prod whole=false [second third] stays running back=[second]"}) || len(got.Applies) > 0 {
				t.Errorf("while running: removals %v, applies %v", got.Removals, got.Applies)
			}
			d.a.removals.finish(d.t.Context(), st, cp, []string{"second", "third"}, nil, d.a.log)
		},
		want: clusterState{
			Status:  []string{"blog default:Unknown", "shop staging:Unknown prod:Unknown"},
			Drift:   []string{"local/shop"},
			Applies: []string{"shop/prod"},
			Forced:  []string{"shop/prod"},
		},
	}, {
		name: "second back and gone again while its prune runs and fails: still to prune",
		do: func() {
			d.a.reconciler.takeForced("shop", "prod")
			d.load("a", []*desiredApp{onlyLocal(), blog})
			st, cp := d.startRemoval("shop", "prod")
			d.load("a", []*desiredApp{d.appOn("a", "shop", "shop/Appfile", "staging=local", "prod=local,second"), blog})
			d.load("a", []*desiredApp{onlyLocal(), blog})
			d.a.removals.finish(d.t.Context(), st, cp, []string{"third"}, errors.New("cluster second: forbidden"), d.a.log)
		},
		want: clusterState{
			Removals: []string{"a: shop/prod whole=false [second] stays"},
			Status:   []string{"blog default:Unknown", "shop staging:Unknown prod:Unknown"},
			Drift:    []string{"local/shop"},
			Removes:  []string{"shop/prod"},
			Applies:  []string{"shop/prod"},
		},
	}, {
		name: "prod removed while its second prune is pending: the removal of prod covers second",
		do:   func() { d.load("a", []*desiredApp{d.appOn("a", "shop", "shop/Appfile", "staging=local"), blog}) },
		want: clusterState{
			Removals: []string{"a: shop/prod whole=false [local second]"},
			Status:   []string{"blog default:Unknown", "shop staging:Unknown prod:Pruning"},
			Drift:    []string{"local/shop"},
			Removes:  []string{"shop/prod"},
		},
	}, {
		name: "prod back on local only: its removal goes on for second, prod's status starts over",
		do:   func() { d.load("a", []*desiredApp{onlyLocal(), blog}) },
		want: clusterState{
			Removals: []string{"a: shop/prod whole=false [second] stays"},
			Status:   []string{"blog default:Unknown", "shop staging:Unknown prod:Unknown"},
			Applies:  []string{"shop/prod"},
		},
	}, {
		name: "shop removed while prod's second prune is pending: the app's removal covers it",
		do:   func() { d.load("a", []*desiredApp{blog}) },
		want: clusterState{
			Removals: []string{"a: shop/prod whole=true [local second]", "a: shop/staging whole=true [local]"},
			Status:   []string{"blog default:Unknown", "shop staging:Pruning prod:Pruning"},
			Removes:  []string{"shop/prod", "shop/staging"},
		},
	}, {
		name: "prune: false: a cluster that leaves is only forgotten",
		do: func() {
			d.load("a", []*desiredApp{both(), blog})
			d.clusterState()
			d.drifted("shop", "prod", "third")
			d.srcs["a"].cfg.Prune = new(false)
			d.load("a", []*desiredApp{d.appOn("a", "shop", "shop/Appfile", "staging=local", "prod=local,second"), blog})
		},
		want: clusterState{
			Status:  []string{"blog default:Unknown", "shop staging:Unknown prod:Unknown"},
			Applies: []string{"shop/prod"},
		},
	}}
	for _, step := range steps {
		step.do()
		if diff := cmp.Diff(step.want, d.clusterState()); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", step.name, diff)
		}
	}
}
