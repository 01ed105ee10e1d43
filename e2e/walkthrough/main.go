package walkthrough

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// Options configure a run of a demo.
type Options struct {
	// AppDir is the example committed to the demo's repository.
	AppDir string
	// Exit stops everything once the walk-through is done.
	Exit bool
	// Listen is the agent's API address; port 0 picks a free one.
	Listen string
	// StepTimeout bounds each wait of the walk-through.
	StepTimeout time.Duration
}

// Main is a demo command's main: it reads the flags over defaults (appUsage
// says what -app names), runs run until it returns or the process is
// interrupted, and exits 1 on an error.
func Main(defaults Options, appUsage string, run func(context.Context, Options, io.Writer) error) {
	opts := defaults
	flag.StringVar(&opts.AppDir, "app", opts.AppDir, appUsage)
	flag.BoolVar(&opts.Exit, "exit", false, "stop everything and exit once the walk-through is done")
	flag.StringVar(&opts.Listen, "listen", opts.Listen, "the agent's API address (loopback)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		stop()
		os.Exit(1)
	}
}

// SyncWriter serialises the writes of the walk-through's goroutines.
type SyncWriter struct {
	mu sync.Mutex
	W  io.Writer
}

func (s *SyncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.W.Write(p)
}
