package pool

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/carina-gitops/carina/internal/panics"
)

// Options configures a Pool.
type Options struct {
	// Command is the worker's argv. Default: this executable with no
	// arguments; the worker is recognised by its environment (IsWorker).
	Command []string
	// Workers is the most jobs that run at once, one per process.
	// Default: runtime.NumCPU().
	Workers int
	// MemoryLimit caps each worker's heap (RLIMIT_DATA), in bytes.
	MemoryLimit int64
	// MaxRequest and MaxResponse cap a job's input and output, in bytes.
	MaxRequest  int64
	MaxResponse int64
	// Env is added to the workers' environment.
	Env []string
}

// DefaultOptions returns one worker per CPU, 1 GiB of memory per worker,
// 64 MiB requests and 256 MiB responses.
func DefaultOptions() Options {
	return Options{Workers: runtime.NumCPU(), MemoryLimit: 1 << 30, MaxRequest: 64 << 20, MaxResponse: 256 << 20}
}

// Pool runs jobs in worker processes. It is safe for concurrent use.
type Pool struct {
	opts  Options
	slots chan struct{}
	idle  chan *worker

	mu     sync.Mutex
	closed bool
	live   map[*worker]struct{}
}

// New returns a pool. Workers start on first use.
func New(opts Options) (*Pool, error) {
	def := DefaultOptions()
	if opts.Workers <= 0 {
		opts.Workers = def.Workers
	}
	if opts.MaxRequest <= 0 {
		opts.MaxRequest = def.MaxRequest
	}
	if opts.MaxResponse <= 0 {
		opts.MaxResponse = def.MaxResponse
	}
	if len(opts.Command) == 0 {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("worker command: %w", err)
		}
		opts.Command = []string{self}
	}
	return &Pool{
		opts:  opts,
		slots: make(chan struct{}, opts.Workers),
		idle:  make(chan *worker, opts.Workers),
		live:  map[*worker]struct{}{},
	}, nil
}

// ErrClosed is returned by Do after Close.
var ErrClosed = errors.New("worker pool is closed")

// JobError is the error a job returned in its worker.
type JobError struct{ Msg string }

func (e *JobError) Error() string { return e.Msg }

// CrashError reports a worker that died during a job (for example out of
// memory). Stderr holds the end of what the worker printed.
type CrashError struct {
	Err    error
	Stderr string
}

func (e *CrashError) Error() string {
	if e.Stderr == "" {
		return fmt.Sprintf("worker crashed: %v", e.Err)
	}
	return fmt.Sprintf("worker crashed: %v: %s", e.Err, e.Stderr)
}

func (e *CrashError) Unwrap() error { return e.Err }

// Do runs one job. When ctx ends first, the job's worker is killed and the
// error wraps ctx.Err(). A job that panicked in its worker fails with a
// *panics.Error (errors.Is(err, panics.ErrPanic)) carrying the worker's
// stack, and that worker is replaced.
func (p *Pool) Do(ctx context.Context, request []byte) ([]byte, error) {
	if int64(len(request)) > p.opts.MaxRequest {
		return nil, fmt.Errorf("job request of %d bytes exceeds the limit of %d", len(request), p.opts.MaxRequest)
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a worker: %w", ctx.Err())
	}
	defer func() { <-p.slots }()
	w, err := p.get()
	if err != nil {
		return nil, err
	}
	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := w.roundTrip(request)
		done <- result{out, err}
	}()
	select {
	case r := <-done:
		var jobErr *JobError
		if r.err != nil && !errors.As(r.err, &jobErr) {
			p.discard(w)
			return nil, r.err
		}
		p.put(w)
		return r.out, r.err
	case <-ctx.Done():
		p.discard(w)
		<-done
		return nil, fmt.Errorf("job stopped and its worker killed: %w", ctx.Err())
	}
}

// get takes an idle worker or starts one.
func (p *Pool) get() (*worker, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	select {
	case w := <-p.idle:
		return w, nil
	default:
	}
	w, err := startWorker(p.opts)
	if err != nil {
		return nil, err
	}
	p.live[w] = struct{}{}
	return w, nil
}

func (p *Pool) put(w *worker) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		p.discard(w)
		return
	}
	p.idle <- w
}

func (p *Pool) discard(w *worker) {
	w.kill()
	p.mu.Lock()
	delete(p.live, w)
	p.mu.Unlock()
}

// Close stops every worker: idle ones get EOF on stdin and exit; any still
// running after a second is killed.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	live := make([]*worker, 0, len(p.live))
	for w := range p.live {
		live = append(live, w)
	}
	p.live = map[*worker]struct{}{}
	for len(p.idle) > 0 {
		<-p.idle
	}
	p.mu.Unlock()
	for _, w := range live {
		w.stop(time.Second)
	}
	return nil
}

// worker is one process.
type worker struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *headBuffer
	max    int64
	exited chan struct{}
	once   sync.Once
}

func startWorker(opts Options) (*worker, error) {
	cmd := exec.Command(opts.Command[0], opts.Command[1:]...)
	cmd.Env = append(os.Environ(), opts.Env...)
	cmd.Env = append(cmd.Env, envWorker+"=1", envMaxRequest+"="+strconv.FormatInt(opts.MaxRequest, 10))
	if opts.MemoryLimit > 0 {
		cmd.Env = append(cmd.Env, envMemoryLimit+"="+strconv.FormatInt(opts.MemoryLimit, 10))
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	w := &worker{cmd: cmd, stderr: newHeadBuffer(4096), max: opts.MaxResponse, exited: make(chan struct{})}
	cmd.Stderr = w.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker %s: %w", opts.Command[0], err)
	}
	w.stdin, w.stdout = stdin, bufio.NewReader(stdout)
	go func() { _ = cmd.Wait(); close(w.exited) }()
	return w, nil
}

func (w *worker) roundTrip(request []byte) ([]byte, error) {
	w.stderr.Reset()
	if err := writeFrame(w.stdin, kindRequest, request); err != nil {
		return nil, w.crash(err)
	}
	kind, payload, err := readFrame(w.stdout, w.max)
	if err != nil {
		return nil, w.crash(err)
	}
	switch kind {
	case kindOK:
		return payload, nil
	case kindError:
		return nil, &JobError{Msg: string(payload)}
	case kindPanic:
		msg, stack, _ := bytes.Cut(payload, []byte{0})
		return nil, &panics.Error{Component: "render worker", Value: string(msg), Stack: stack}
	default:
		return nil, w.crash(fmt.Errorf("unexpected frame kind %q", kind))
	}
}

// crash explains a transport failure with the worker's exit and stderr.
func (w *worker) crash(err error) error {
	select {
	case <-w.exited:
	case <-time.After(2 * time.Second):
	}
	if st := w.cmd.ProcessState; st != nil {
		err = fmt.Errorf("%s: %w", st.String(), err)
	}
	return &CrashError{Err: err, Stderr: w.stderr.Summary()}
}

func (w *worker) kill() {
	w.once.Do(func() {
		_ = w.cmd.Process.Kill()
		_ = w.stdin.Close()
	})
	<-w.exited
}

func (w *worker) stop(grace time.Duration) {
	_ = w.stdin.Close()
	select {
	case <-w.exited:
	case <-time.After(grace):
		w.kill()
	}
}
