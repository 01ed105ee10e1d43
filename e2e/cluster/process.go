package cluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// group is the set of processes of one cluster. The first process started
// leads a new process group and the others join it, so one signal to the
// group reaches them all. Each also gets SIGKILL when its parent dies.
type group struct {
	dir      string
	pgid     int
	procs    []*proc
	watchdog *exec.Cmd
	pipe     *os.File // write end; the watchdog cleans up when it closes
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// newGroup starts the watchdog: a shell in its own session whose stdin is a
// pipe that only this process holds open. When this process exits in any
// way (return, panic, SIGKILL), the kernel closes the pipe, the shell's read
// returns, and it kills the process group and removes dir.
func newGroup(dir string) (*group, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	script := `read -r _ || true
pg=$(cat "$CARINA_DIR/pgid" 2>/dev/null)
if [ -n "$pg" ]; then kill -TERM -- "-$pg" 2>/dev/null; sleep 1; kill -KILL -- "-$pg" 2>/dev/null; fi
rm -rf -- "$CARINA_DIR"`
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Stdin = r
	cmd.Env = []string{"CARINA_DIR=" + dir, "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	r.Close()
	return &group{dir: dir, watchdog: cmd, pipe: w}, nil
}

// start runs a component with its output in dir/logs/<name>.log.
func (g *group) start(name, bin string, args ...string) (*proc, error) {
	logPath := filepath.Join(g.dir, "logs", name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Dir = g.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = []string{"HOME=" + g.dir, "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: g.pgid, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if g.pgid == 0 {
		g.pgid = cmd.Process.Pid
		if err := os.WriteFile(filepath.Join(g.dir, "pgid"), []byte(strconv.Itoa(g.pgid)), 0o644); err != nil {
			return nil, err
		}
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	g.procs = append(g.procs, p)
	return p, nil
}

// exited reports a component that stopped while the cluster should run.
func (g *group) exited() error {
	for _, p := range g.procs {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %v\n%s", p.name, p.err, tail(p.log, 20))
		default:
		}
	}
	return nil
}

// pids returns the process IDs of the running components.
func (g *group) pids() []int {
	var out []int
	for _, p := range g.procs {
		out = append(out, p.cmd.Process.Pid)
	}
	return out
}

// stop terminates the group (SIGTERM, then SIGKILL after grace), waits for
// every component, stops the watchdog and removes the directory.
func (g *group) stop(grace time.Duration) error {
	if g.pgid != 0 {
		_ = syscall.Kill(-g.pgid, syscall.SIGTERM)
		if !g.waitAll(grace) {
			_ = syscall.Kill(-g.pgid, syscall.SIGKILL)
			g.waitAll(5 * time.Second)
		}
	}
	g.pipe.Close()
	err := g.watchdog.Wait()
	if rmErr := os.RemoveAll(g.dir); rmErr != nil {
		err = errors.Join(err, rmErr)
	}
	return err
}

func (g *group) waitAll(d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for _, p := range g.procs {
		select {
		case <-p.done:
		case <-deadline.C:
			return false
		}
	}
	return true
}

// tail returns the last n lines of a log file, for error messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
