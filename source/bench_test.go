package source

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/carina-gitops/carina/e2e/gitserver"
)

// The benchmarks compare Fetch with the git binary on the same loopback
// git http-backend server, over a repository of benchFiles files and
// benchCommits commits, both in every iteration and in alternating order. The fixture is built once with git fast-import and
// kept in $CARINA_BENCH_CACHE (default: $TMPDIR/carina-source-bench).
const (
	benchFiles   = 10_000
	benchCommits = 1_000
	benchFixture = "v1-10000-files-1000-commits"
)

var (
	benchOnce sync.Once
	benchDir  string
	benchErr  error
)

// benchRepos returns the directory holding big.git, building it if needed.
// Branch main is commit benchCommits-1; branch next is one commit on top
// of it that changes 10 files.
func benchRepos(b *testing.B) *gitserver.Repos {
	b.Helper()
	gitserver.RequireGit(b)
	benchOnce.Do(func() {
		root := os.Getenv("CARINA_BENCH_CACHE")
		if root == "" {
			root = filepath.Join(os.TempDir(), "carina-source-bench")
		}
		benchDir = filepath.Join(root, benchFixture)
		if _, err := os.Stat(filepath.Join(benchDir, "big.git", "refs", "heads", "next")); err == nil {
			return
		}
		benchErr = buildBenchRepo(root, benchDir)
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return &gitserver.Repos{Dir: benchDir}
}

func buildBenchRepo(root, dir string) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(root, ".build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bare := filepath.Join(tmp, "big.git")
	if _, err := gitserver.RunGit(tmp, nil, nil, "init", "-q", "--bare", bare); err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeBenchHistory(pw)) }()
	if err := gitserver.FastImport(bare, pr); err != nil {
		return err
	}
	if _, err := gitserver.RunGit(bare, nil, nil, "repack", "-a", "-d", "-q"); err != nil {
		return err
	}
	_ = os.RemoveAll(dir)
	return os.Rename(tmp, dir)
}

// benchFile returns the content of file i at version v: a ConfigMap of
// 16 hex values, about 1.3 KiB.
func benchFile(i, v int) string {
	s := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%05d\n  namespace: ns-%03d\ndata:\n", i, i/100)
	for k := range 16 {
		sum := sha256.Sum256(fmt.Appendf(nil, "%d/%d/%d", i, k, v))
		s += fmt.Sprintf("  key%02d: %s\n", k, hex.EncodeToString(sum[:]))
	}
	return s
}

func benchPath(i int) string {
	return fmt.Sprintf("apps/team%02d/svc%03d/cm-%05d.yaml", i/1000, (i/100)%10*10+i%10, i)
}

// writeBenchHistory writes a fast-import stream: one commit with all
// files, then commits that each change 10 files.
func writeBenchHistory(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	data := func(s string) { fmt.Fprintf(bw, "data %d\n%s\n", len(s), s) }
	when := int64(1_700_000_000)
	for c := 1; c <= benchCommits; c++ {
		branch := "main"
		if c == benchCommits {
			branch = "next"
		}
		fmt.Fprintf(bw, "commit refs/heads/%s\nmark :%d\ncommitter Bench <bench@carina.invalid> %d +0000\n", branch, c, when+int64(c)*60)
		data(fmt.Sprintf("change %d", c))
		if c > 1 {
			fmt.Fprintf(bw, "from :%d\n", c-1)
		}
		if c == 1 {
			for i := range benchFiles {
				fmt.Fprintf(bw, "M 100644 inline %s\n", benchPath(i))
				data(benchFile(i, 0))
			}
			continue
		}
		for j := range 10 {
			i := (c*10 + j*997) % benchFiles
			fmt.Fprintf(bw, "M 100644 inline %s\n", benchPath(i))
			data(benchFile(i, c))
		}
	}
	return bw.Flush()
}

// peakHeap samples the Go heap every millisecond until stop is called and
// returns the peak above the level at the start.
func peakHeap() (stop func() uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var peak uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak {
				peak = v
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		if peak < base {
			return 0
		}
		return peak - base
	}
}

// settle flushes what the set-up wrote to disk and collects garbage, so
// that neither side of a comparison pays for the set-up.
func settle() {
	syscall.Sync()
	runtime.GC()
}

// inTurn runs carina then git in even iterations and git then carina in
// odd ones, so that neither always runs on a cold (or warm) cache or
// right after the set-up.
func inTurn(i int, carina, git func()) {
	if i%2 == 0 {
		carina()
		git()
		return
	}
	git()
	carina()
}

// cpuTime returns the user+system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runGit runs git and returns its wall time and peak resident memory, and
// adds the CPU time of git and its children to cpu.
func runGit(b *testing.B, dir string, cpu *time.Duration, args ...string) (time.Duration, int64) {
	b.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitserver.Env()
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("git %v: %v\n%s", args, err, out)
	}
	d := time.Since(start)
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss * 1024
	}
	if cpu != nil {
		*cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	return d, rss
}

// benchResult accumulates the two sides of a comparison.
type benchResult struct {
	n                  int
	carina, git        time.Duration // wall time
	carinaCPU, gitCPU  time.Duration // client CPU: this process, git's process tree
	carinaHeap, gitRSS int64
	repoBytes          int64 // the files of the snapshot
	packBytes          int64 // the repository cache after the fetch
}

// timeCarina runs op and adds its wall and CPU time.
func (r *benchResult) timeCarina(op func()) {
	cpu, start := cpuTime(), time.Now()
	op()
	r.carina += time.Since(start)
	r.carinaCPU += cpuTime() - cpu
}

func (r *benchResult) report(b *testing.B, gitName string) {
	n := time.Duration(r.n)
	b.ReportMetric(float64(r.carina/n)/1e6, "carina-ms/op")
	b.ReportMetric(float64(r.git/n)/1e6, gitName+"-ms/op")
	b.ReportMetric(float64(r.carina)/float64(r.git), "carina/"+gitName)
	if r.gitCPU > 0 {
		b.ReportMetric(float64(r.carinaCPU/n)/1e6, "carina-cpu-ms/op")
		b.ReportMetric(float64(r.gitCPU/n)/1e6, gitName+"-cpu-ms/op")
		b.ReportMetric(float64(r.carinaCPU)/float64(r.gitCPU), "cpu-carina/"+gitName)
	}
	if r.repoBytes > 0 {
		b.ReportMetric(float64(r.repoBytes)/(1<<20), "repo-MiB")
		b.ReportMetric(float64(r.carinaHeap)/float64(r.n)/(1<<20), "carina-peak-heap-MiB")
		b.ReportMetric(float64(r.carinaHeap)/float64(r.n)/float64(r.repoBytes), "heap/repo")
	}
	if r.packBytes > 0 {
		b.ReportMetric(float64(r.packBytes)/(1<<20), "cache-MiB")
	}
	if r.gitRSS > 0 {
		b.ReportMetric(float64(r.gitRSS)/float64(r.n)/(1<<20), gitName+"-maxrss-MiB")
	}
}

// dirSize sums the sizes of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func benchFetcher(b *testing.B, dir string) *Fetcher {
	b.Helper()
	opts := DefaultOptions()
	opts.CacheDir = dir
	f, err := NewFetcher(opts)
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkNoChangePoll: Fetch of a ref whose head has not moved (one
// ls-remote, no download) against `git ls-remote` of the same ref.
func BenchmarkNoChangePoll(b *testing.B) {
	repos := benchRepos(b)
	srv := gitserver.StartHTTP(b, repos, gitserver.HTTPOptions{})
	url := srv.RepoURL("big")
	f := benchFetcher(b, b.TempDir())
	ref := Ref{URL: url, Branch: "main"}
	if _, err := f.Fetch(context.Background(), ref); err != nil {
		b.Fatal(err)
	}
	before := f.Stats()
	var r benchResult
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		r.timeCarina(func() { _, err = f.Fetch(context.Background(), ref) })
		if err != nil {
			b.Fatal(err)
		}
		d, _ := runGit(b, b.TempDir(), &r.gitCPU, "ls-remote", url, "refs/heads/main")
		r.git += d
		r.n++
	}
	b.StopTimer()
	if st := f.Stats(); st.Downloads != before.Downloads || st.Checkouts != before.Checkouts {
		b.Fatalf("a no-change poll downloaded or checked out: %+v -> %+v", before, st)
	}
	r.report(b, "git-ls-remote")
}

// BenchmarkFirstFetch: Fetch into an empty cache (ls-remote, depth-1
// pack, checkout of 10,000 files) against `git clone --depth 1`.
func BenchmarkFirstFetch(b *testing.B) {
	repos := benchRepos(b)
	srv := gitserver.StartHTTP(b, repos, gitserver.HTTPOptions{})
	url := srv.RepoURL("big")
	var r benchResult
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		work := b.TempDir()
		f := benchFetcher(b, filepath.Join(work, "cache"))
		settle()
		b.StartTimer()

		carina := func() {
			stop := peakHeap()
			var s *Snapshot
			var err error
			r.timeCarina(func() { s, err = f.Fetch(context.Background(), Ref{URL: url, Branch: "main"}) })
			r.carinaHeap += int64(stop())
			if err != nil {
				b.Fatal(err)
			}
			r.repoBytes = s.Bytes
			r.packBytes = dirSize(filepath.Join(work, "cache", "repos"))
		}
		git := func() {
			d, rss := runGit(b, work, &r.gitCPU, "clone", "-q", "--depth", "1", "--single-branch", "--no-tags", "-b", "main", url, "clone")
			r.git += d
			r.gitRSS += rss
		}
		inTurn(i, carina, git)
		r.n++
		b.StopTimer()
		_ = removeAll(work)
		b.StartTimer()
	}
	r.report(b, "git-clone")
}

// BenchmarkIncrementalFetch: with the cache (and tree) of main in place,
// Fetch of next, one commit ahead, against `git fetch --depth 1` in a
// depth-1 clone of main, and against that fetch plus the checkout of the
// fetched commit (which is what Fetch also does).
func BenchmarkIncrementalFetch(b *testing.B) {
	benchIncrementalFetch(b, 0, false)
}

// BenchmarkIncrementalFetchPrepared: the same, with the copy of main's
// tree made beforehand by Fetcher.Prepare, as the agent does while a
// source is idle. Prepare's own time is reported apart (prepare-ms/op,
// prepare-cpu-ms/op), not in Carina's.
func BenchmarkIncrementalFetchPrepared(b *testing.B) {
	benchIncrementalFetch(b, 0, true)
}

// BenchmarkIncrementalFetchRTT50ms: the same, with every HTTP request
// answered 50 ms late, as from a Git host one round trip away rather than
// on loopback.
func BenchmarkIncrementalFetchRTT50ms(b *testing.B) {
	benchIncrementalFetch(b, 50*time.Millisecond, false)
}

func benchIncrementalFetch(b *testing.B, rtt time.Duration, prepared bool) {
	repos := benchRepos(b)
	srv := gitserver.StartHTTP(b, repos, gitserver.HTTPOptions{OnRequest: func(*http.Request) { time.Sleep(rtt) }})
	url := srv.RepoURL("big")
	seed := b.TempDir()
	if _, err := benchFetcher(b, filepath.Join(seed, "cache")).Fetch(context.Background(), Ref{URL: url, Branch: "main"}); err != nil {
		b.Fatal(err)
	}
	runGit(b, seed, nil, "clone", "-q", "--depth", "1", "--single-branch", "--no-tags", "-b", "main", url, "clone")

	var r, rc, prep benchResult
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		work := b.TempDir()
		if out, err := exec.Command("cp", "-a", filepath.Join(seed, "cache"), filepath.Join(seed, "clone"), work).CombinedOutput(); err != nil {
			b.Fatalf("cp: %v\n%s", err, out)
		}
		f := benchFetcher(b, filepath.Join(work, "cache"))
		if prepared {
			settle()
			prep.timeCarina(func() {
				if err := f.Prepare(context.Background(), Ref{URL: url, Branch: "next"}); err != nil {
					b.Fatal(err)
				}
			})
		}
		settle()
		b.StartTimer()

		carina := func() {
			stop := peakHeap()
			var s *Snapshot
			var err error
			r.timeCarina(func() { s, err = f.Fetch(context.Background(), Ref{URL: url, Branch: "next"}) })
			r.carinaHeap += int64(stop())
			if err != nil {
				b.Fatal(err)
			}
			if prepared && f.sparesUsed.Load() != 1 {
				b.Fatal("the fetch did not patch the prepared copy")
			}
			r.repoBytes = s.Bytes
		}
		git := func() {
			clone := filepath.Join(work, "clone")
			d, rss := runGit(b, clone, &r.gitCPU, "fetch", "-q", "--depth", "1", "origin", "next")
			d2, _ := runGit(b, clone, &rc.gitCPU, "checkout", "-q", "--detach", "FETCH_HEAD")
			r.git += d
			r.gitRSS += rss
			rc.git += d + d2
		}
		inTurn(i, carina, git)
		r.n++
		b.StopTimer()
		_ = removeAll(work)
		b.StartTimer()
	}
	rc.n, rc.carina = r.n, r.carina
	rc.gitCPU += r.gitCPU
	r.report(b, "git-fetch")
	if prepared {
		b.ReportMetric(float64(prep.carina/time.Duration(r.n))/1e6, "prepare-ms/op")
		b.ReportMetric(float64(prep.carinaCPU/time.Duration(r.n))/1e6, "prepare-cpu-ms/op")
	}
	b.ReportMetric(float64(rc.git/time.Duration(rc.n))/1e6, "git-fetch+checkout-ms/op")
	b.ReportMetric(float64(rc.carina)/float64(rc.git), "carina/git-fetch+checkout")
	b.ReportMetric(float64(r.carinaCPU)/float64(rc.gitCPU), "cpu-carina/git-fetch+checkout")
}
