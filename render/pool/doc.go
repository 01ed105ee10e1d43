// Package pool runs jobs in a pool of long-lived worker processes, so that
// work which cannot be cancelled in-process (CUE evaluation has no
// cancellation) can be stopped: a job that outlives its context's deadline
// has its worker killed, and a job that exceeds the memory limit fails in
// its worker (RLIMIT_DATA plus a matching GC soft limit) without harming
// the parent. A killed or crashed worker is replaced for the next job.
//
// Workers are the parent's own binary re-executed with a worker argument:
//
//	// in main, before anything else:
//	if pool.IsWorker() { pool.ServeMain(ctx, handle) }
//
//	// in the parent:
//	p := pool.New(pool.DefaultOptions())
//	defer p.Close()
//	out, err := p.Do(ctx, request)
//
// Requests and responses are opaque bytes; package render defines what they
// hold. The protocol is length-prefixed frames on the worker's stdin and
// stdout; the worker's stderr is kept (bounded) to explain crashes.
package pool
