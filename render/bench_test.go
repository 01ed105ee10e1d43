package render

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/carina-gitops/carina/appfile"
)

// cpuTime is the process's user+system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchRender renders app once to warm the template cache, then in a loop,
// and reports wall and CPU milliseconds per render and per component.
func benchRender(b *testing.B, app *appfile.Application) {
	reg := testRegistry(b)
	root := repoFS(b)
	env := appfile.Environment{Name: "prod", Namespace: "shop-prod"}
	opts := DefaultOptions()
	res, err := Render(b.Context(), app, env, reg, root.FS(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0, wall0 := cpuTime(b), time.Now()
	n := 0
	for b.Loop() {
		if _, err := Render(b.Context(), app, env, reg, root.FS(), opts); err != nil {
			b.Fatal(err)
		}
		n++
	}
	cpu, wall := cpuTime(b)-cpu0, time.Since(wall0)
	perRender := float64(wall.Microseconds()) / 1000 / float64(n)
	b.ReportMetric(perRender, "ms/render")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(n), "cpu-ms/render")
	b.ReportMetric(perRender/float64(len(app.Components)), "ms/component")
	b.ReportMetric(float64(len(res.Objects)), "objects")
}

func webComponent(i int, traits ...appfile.Trait) appfile.Component {
	return appfile.Component{
		Name: fmt.Sprintf("svc-%03d", i),
		Type: "webservice",
		Properties: map[string]any{
			"image": fmt.Sprintf("ghcr.io/acme/svc-%03d:1.0.%d", i, i),
			"ports": []any{map[string]any{"port": 8080, "expose": true}},
			"env":   []any{map[string]any{"name": "INDEX", "value": fmt.Sprint(i)}},
			"cpu":   "250m", "memory": "256Mi",
		},
		Traits: traits,
	}
}

// BenchmarkRender100Components is a 100-component application with three
// traits each (target: under 1 s for the whole app on 2 cores, warm cache).
func BenchmarkRender100Components(b *testing.B) {
	app := &appfile.Application{Name: "big"}
	for i := range 100 {
		app.Components = append(app.Components, webComponent(i,
			appfile.Trait{Type: "scaler", Properties: map[string]any{"replicas": 2}},
			appfile.Trait{Type: "labels", Properties: map[string]any{"team": "t" + fmt.Sprint(i%7)}},
			appfile.Trait{Type: "env", Properties: map[string]any{"env": map[string]any{"LOG_LEVEL": "info"}}},
		))
	}
	benchRender(b, app)
}

// BenchmarkRenderKubeVelaLoadTestShape is the shape of KubeVela's
// published load test: two components with five traits (target: 10 ms of
// CPU per application render or less, templates compiled once).
func BenchmarkRenderKubeVelaLoadTestShape(b *testing.B) {
	traits := func(i int) []appfile.Trait {
		return []appfile.Trait{
			{Type: "scaler", Properties: map[string]any{"replicas": 3}},
			{Type: "gateway", Properties: map[string]any{"domain": fmt.Sprintf("svc-%d.example.com", i), "http": map[string]any{"/": 8080}, "existingServiceName": fmt.Sprintf("svc-%03d", i)}},
			{Type: "labels", Properties: map[string]any{"team": "load"}},
			{Type: "annotations", Properties: map[string]any{"load-test": "true"}},
			{Type: "sidecar", Properties: map[string]any{"name": "proxy", "image": "envoyproxy/envoy:v1.31"}},
		}
	}
	app := &appfile.Application{Name: "load", Components: []appfile.Component{
		webComponent(0, traits(0)...),
		webComponent(1, traits(1)...),
	}}
	benchRender(b, app)
}
