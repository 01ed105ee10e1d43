package pool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carina-gitops/carina/internal/panics"
)

// The test binary is its own worker: TestMain serves jobs when started by a
// pool, with these commands.
func testHandler(_ context.Context, req []byte) ([]byte, error) {
	cmd, arg, _ := strings.Cut(string(req), " ")
	switch cmd {
	case "echo":
		return []byte(arg), nil
	case "pid":
		return fmt.Appendf(nil, "%d", os.Getpid()), nil
	case "fail":
		return nil, errors.New(arg)
	case "spin": // never terminates, like a runaway CUE evaluation
		//lint:ignore SA5002 spinning forever is this job's purpose
		for {
		}
	case "alloc": // grows without bound
		var keep [][]byte
		for {
			b := make([]byte, 8<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			keep = append(keep, b) //lint:ignore SA4010 holding the memory is this job's purpose
		}
	case "panic":
		panic(arg)
	case "big":
		return bytes.Repeat([]byte("x"), 1<<20), nil
	}
	return nil, fmt.Errorf("unknown command %q", cmd)
}

func TestMain(m *testing.M) {
	if IsWorker() {
		ServeMain(context.Background(), testHandler)
	}
	os.Exit(m.Run())
}

func newPool(t *testing.T, mod func(*Options)) *Pool {
	t.Helper()
	opts := DefaultOptions()
	opts.Workers = 2
	opts.MemoryLimit = 0 // the race detector's shadow memory counts too; see TestMemoryHog
	if mod != nil {
		mod(&opts)
	}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func do(t *testing.T, p *Pool, req string, timeout time.Duration) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	out, err := p.Do(ctx, []byte(req))
	return string(out), err
}

func TestJobsRunInReusedWorkers(t *testing.T) {
	p := newPool(t, func(o *Options) { o.Workers = 1 })
	first, err := do(t, p, "pid", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if first == fmt.Sprint(os.Getpid()) {
		t.Fatal("job ran in the parent process")
	}
	second, err := do(t, p, "pid", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Errorf("worker not reused: pids %s then %s", first, second)
	}
	if got, err := do(t, p, "echo hello", 10*time.Second); err != nil || got != "hello" {
		t.Errorf("echo = %q, %v", got, err)
	}
}

func TestJobErrorKeepsWorker(t *testing.T) {
	p := newPool(t, func(o *Options) { o.Workers = 1 })
	before, _ := do(t, p, "pid", 10*time.Second)
	_, err := do(t, p, "fail app.cue:3:5: field not allowed", 10*time.Second)
	var jobErr *JobError
	if !errors.As(err, &jobErr) || jobErr.Msg != "app.cue:3:5: field not allowed" {
		t.Fatalf("want the job's error text, got %v", err)
	}
	after, _ := do(t, p, "pid", 10*time.Second)
	if before != after {
		t.Errorf("a job error replaced the worker (%s then %s)", before, after)
	}
}

func TestRunawayJobIsKilledAtDeadline(t *testing.T) {
	p := newPool(t, func(o *Options) { o.Workers = 1 })
	before, _ := do(t, p, "pid", 10*time.Second)
	start := time.Now()
	_, err := do(t, p, "spin", 300*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want a deadline error, got %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Do returned %s after the deadline", took)
	}
	pid := 0
	fmt.Sscan(before, &pid)
	if alive(pid) {
		t.Errorf("runaway worker %d still alive", pid)
	}
	after, err := do(t, p, "pid", 10*time.Second)
	if err != nil {
		t.Fatalf("the next job failed: %v", err)
	}
	if after == before {
		t.Error("the killed worker was reused")
	}
}

func TestMemoryHogFailsInItsWorker(t *testing.T) {
	limit := int64(128 << 20)
	if raceEnabled {
		limit = 2 << 30 // ThreadSanitizer's own mappings count against RLIMIT_DATA
	}
	p := newPool(t, func(o *Options) { o.Workers = 1; o.MemoryLimit = limit })
	_, err := do(t, p, "alloc", 60*time.Second)
	var crash *CrashError
	if !errors.As(err, &crash) {
		t.Fatalf("want a CrashError, got %v", err)
	}
	// Without -race Go reports "runtime: out of memory"; with -race the
	// sanitizer's own allocation fails first with ENOMEM (errno 12).
	if !strings.Contains(crash.Stderr, "out of memory") && !strings.Contains(crash.Stderr, "errno: 12") {
		t.Errorf("crash reason %q does not say out of memory", crash.Stderr)
	}
	if got, err := do(t, p, "echo still-here", 10*time.Second); err != nil || got != "still-here" {
		t.Errorf("the next job: %q, %v", got, err)
	}
}

func TestLimitsOnRequestAndResponse(t *testing.T) {
	p := newPool(t, func(o *Options) { o.MaxRequest = 16; o.MaxResponse = 1024 })
	if _, err := do(t, p, "echo this-request-is-too-long", 10*time.Second); err == nil {
		t.Error("an oversized request was accepted")
	}
	if _, err := do(t, p, "big", 10*time.Second); err == nil || !strings.Contains(err.Error(), "exceeds the limit") {
		t.Errorf("an oversized response: got %v", err)
	}
}

func TestConcurrentJobsAreBoundedAndCorrect(t *testing.T) {
	p := newPool(t, nil)
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range 20 {
		wg.Go(func() {
			want := fmt.Sprint("job-", i)
			got, err := do(t, p, "echo "+want, 30*time.Second)
			if err == nil && got != want {
				err = fmt.Errorf("got %q, want %q", got, want)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	n := len(p.live)
	p.mu.Unlock()
	if n > 2 {
		t.Errorf("%d workers for a pool of 2", n)
	}
}

func TestClosedPoolRefusesJobs(t *testing.T) {
	p := newPool(t, nil)
	if _, err := do(t, p, "echo x", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if _, err := do(t, p, "echo x", 10*time.Second); !errors.Is(err, ErrClosed) {
		t.Errorf("want ErrClosed, got %v", err)
	}
}

func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z"
}

// BenchmarkPoolOverhead measures a round trip through a warm worker against
// the same call in process: the pool's cost per render.
func BenchmarkPoolOverhead(b *testing.B) {
	b.Run("in-process", func(b *testing.B) {
		for b.Loop() {
			if _, err := testHandler(b.Context(), []byte("echo x")); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("worker", func(b *testing.B) {
		p, err := New(Options{Workers: 1})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		if _, err := p.Do(b.Context(), []byte("echo warm")); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := p.Do(b.Context(), []byte("echo x")); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestPanicFailsOnlyThatJob: a handler's panic is that job's error, typed
// and with the worker's stack, and the pool keeps serving.
func TestPanicFailsOnlyThatJob(t *testing.T) {
	p := newPool(t, nil)
	_, err := p.Do(t.Context(), []byte("panic boom"))
	var perr *panics.Error
	if !errors.As(err, &perr) || perr.Value != "boom" || !strings.Contains(string(perr.Stack), "testHandler") {
		t.Fatalf("Do(panic) = %v, want a *panics.Error with the worker's stack", err)
	}
	out, err := p.Do(t.Context(), []byte("echo after"))
	if err != nil || string(out) != "after" {
		t.Fatalf("Do after a panic = %q, %v", out, err)
	}
}
