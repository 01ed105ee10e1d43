package kubevela

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/render"
)

// BenchmarkRenderLoadShape is the render cost per app for KubeVela's
// load-test shape, 2 components x 5 traits (testdata/apps/50), with
// KubeVela's definitions, templates compiled once as in the agent. The
// target is 10 ms of CPU per app or less.
func BenchmarkRenderLoadShape(b *testing.B) {
	reg := corpusRegistry(b, false, kubevelaDefinitions)
	data, err := os.ReadFile(filepath.Join("testdata", "apps", "50-multi-component.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	app, err := appfile.Parse("50-multi-component.yaml", data)
	if err != nil {
		b.Fatal(err)
	}
	envs, err := appfile.Environments(app)
	if err != nil {
		b.Fatal(err)
	}
	opts := render.DefaultOptions()
	opts.KubeVersion = "1.18"
	fsys := os.DirFS("testdata")
	// Compile the templates before measuring, as the agent's cache has.
	if _, err := render.Render(b.Context(), app, envs[0], reg, fsys, opts); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	start := cpuTime(b)
	n := 0
	for b.Loop() {
		if _, err := render.Render(b.Context(), app, envs[0], reg, fsys, opts); err != nil {
			b.Fatal(err)
		}
		n++
	}
	// CPU of the whole process (GC included) per render: on a shared
	// machine wall time per op says little.
	b.ReportMetric(float64(cpuTime(b)-start)/float64(n)/1e6, "cpu-ms/op")
}

// cpuTime is the process's user plus system CPU time in nanoseconds.
func cpuTime(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
