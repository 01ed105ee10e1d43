package pool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"syscall"

	"github.com/carina-gitops/carina/internal/panics"
)

// Environment variables that configure a worker process.
const (
	envWorker      = "CARINA_POOL_WORKER"
	envMemoryLimit = "CARINA_POOL_MEMORY_LIMIT"
	envMaxRequest  = "CARINA_POOL_MAX_REQUEST"
)

// Handler does one job in a worker.
type Handler func(ctx context.Context, request []byte) ([]byte, error)

// IsWorker reports whether this process was started as a pool worker.
func IsWorker() bool { return os.Getenv(envWorker) == "1" }

// ServeMain is a worker's main: it applies the memory limit, serves jobs on
// stdin/stdout until stdin closes, and exits.
func ServeMain(ctx context.Context, h Handler) {
	if err := applyMemoryLimit(os.Getenv(envMemoryLimit)); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(2)
	}
	maxReq, _ := strconv.ParseInt(os.Getenv(envMaxRequest), 10, 64)
	if maxReq <= 0 {
		maxReq = DefaultOptions().MaxRequest
	}
	// Serve returns only on error; io.EOF is the parent closing stdin.
	if err := Serve(ctx, os.Stdin, os.Stdout, maxReq, h); !errors.Is(err, io.EOF) {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// applyMemoryLimit caps the data segment (RLIMIT_DATA: the Go heap's
// writable mappings count against it; RLIMIT_AS would stop the runtime at
// start-up) and sets the GC soft limit to 80 % of it.
func applyMemoryLimit(v string) error {
	if v == "" {
		return nil
	}
	limit, err := strconv.ParseUint(v, 10, 64)
	if err != nil || limit == 0 {
		return fmt.Errorf("bad memory limit %q", v)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_DATA, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
		return fmt.Errorf("memory limit: %w", err)
	}
	debug.SetMemoryLimit(int64(limit) / 10 * 8)
	return nil
}

// Serve reads request frames from in and writes one response frame per
// request to out, until in is closed (io.EOF).
func Serve(ctx context.Context, in io.Reader, out io.Writer, maxRequest int64, h Handler) error {
	r := bufio.NewReader(in)
	w := bufio.NewWriter(out)
	for {
		kind, req, err := readFrame(r, maxRequest)
		if err != nil {
			return err
		}
		if kind != kindRequest {
			return fmt.Errorf("unexpected frame kind %q", kind)
		}
		resp, herr := handle(ctx, h, req)
		var perr *panics.Error
		switch {
		case errors.As(herr, &perr):
			err = writeFrame(w, kindPanic, panicPayload(perr))
		case herr != nil:
			err = writeFrame(w, kindError, []byte(herr.Error()))
		default:
			err = writeFrame(w, kindOK, resp)
		}
		if err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

// handle runs h, turning its panic into a *panics.Error (the worker then
// reports it and keeps serving; the parent discards the worker anyway).
func handle(ctx context.Context, h Handler, req []byte) (resp []byte, err error) {
	defer panics.Recover("render worker", &err)
	return h(ctx, req)
}

// panicPayload is a panic frame's payload: the message, a NUL, the stack.
func panicPayload(p *panics.Error) []byte {
	msg := fmt.Sprint(p.Value)
	if p.Component != "render worker" {
		msg = p.Error()
	}
	return append(append([]byte(msg), 0), p.Stack...)
}
