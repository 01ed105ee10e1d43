package helm

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// benchPair runs ours and the peer CLI one after the other in each
// iteration, so that both see the same load on a shared machine, and
// reports each side's wall and CPU time per op and their ratios
// (carina/cli). CPU time is ours from getrusage (every thread of the test
// process, GC included) and the CLI's from its process state.
func benchPair(b *testing.B, ours func() error, cli func() (*os.ProcessState, error)) {
	var oursWall, oursCPU, cliWall, cliCPU time.Duration
	n := 0
	for b.Loop() {
		r0, t0 := cpuTime(b), time.Now()
		if err := ours(); err != nil {
			b.Fatal(err)
		}
		t1, r1 := time.Now(), cpuTime(b)
		ps, err := cli()
		if err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		oursWall += t1.Sub(t0)
		oursCPU += r1 - r0
		cliWall += t2.Sub(t1)
		cliCPU += ps.UserTime() + ps.SystemTime()
		n++
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n) }
	b.ReportMetric(per(oursWall), "carina-ns/op")
	b.ReportMetric(per(cliWall), "cli-ns/op")
	b.ReportMetric(per(oursWall)/per(cliWall), "ratio-wall")
	b.ReportMetric(per(oursCPU), "carina-cpu-ns/op")
	b.ReportMetric(per(cliCPU), "cli-cpu-ns/op")
	b.ReportMetric(per(oursCPU)/per(cliCPU), "ratio-cpu")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
