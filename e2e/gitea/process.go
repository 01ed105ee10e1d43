package gitea

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// watchdog removes the Gitea process group and its directory when the
// owning process dies in any way (return, panic, SIGKILL): a shell in its
// own session reads a pipe only this process holds open, and the kernel
// closes it on exit.
type watchdog struct {
	cmd  *exec.Cmd
	pipe *os.File
}

func startWatchdog(dir string) (*watchdog, error) {
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
	return &watchdog{cmd: cmd, pipe: w}, nil
}

// stop ends the watchdog, which then kills what is left of the group and
// removes the directory.
func (w *watchdog) stop() error {
	w.pipe.Close()
	return w.cmd.Wait()
}

// command builds a Gitea command in its own process group (pgid 0 starts a
// new one), with a parent-death signal and the environment Gitea needs.
func (s *Server) command(pgid int, args ...string) *exec.Cmd {
	cmd := exec.Command(s.bin.Path, append(args, "--config", s.appIni)...)
	cmd.Dir = s.dir
	cmd.Env = []string{
		"HOME=" + s.dir, "PATH=/usr/local/bin:/usr/bin:/bin",
		"GITEA_WORK_DIR=" + s.dir, "USER=" + currentUser(),
	}
	if os.Geteuid() == 0 {
		// Gitea refuses root without it; v1.26 reads the GITEA_ form.
		cmd.Env = append(cmd.Env, "I_AM_BEING_UNSAFE_RUNNING_AS_ROOT=true", "GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT=true")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: pgid, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// runCLI runs one Gitea CLI command to completion and returns its output.
func (s *Server) runCLI(timeout time.Duration, args ...string) (string, error) {
	cmd := s.command(0, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("gitea %s: %w", args[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return out.String(), fmt.Errorf("gitea %s: %w\n%s", strings.Join(args[:min(2, len(args))], " "), err, lastLines(out.String(), 20))
		}
		return out.String(), nil
	case <-time.After(timeout):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return out.String(), fmt.Errorf("gitea %s: no answer within %s", args[0], timeout)
	}
}

// startWeb starts "gitea web" as the leader of a new process group, whose
// id the watchdog reads from dir/pgid.
func (s *Server) startWeb() error {
	logFile, err := os.Create(filepath.Join(s.dir, "gitea.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := s.command(0, "web")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("gitea web: %w", err)
	}
	s.web = cmd
	s.webDone = make(chan struct{})
	go func() { s.webErr = cmd.Wait(); close(s.webDone) }()
	return os.WriteFile(filepath.Join(s.dir, "pgid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
}

// stopWeb sends SIGTERM to the group, then SIGKILL after grace.
func (s *Server) stopWeb(grace time.Duration) {
	if s.web == nil {
		return
	}
	pg := s.web.Process.Pid
	_ = syscall.Kill(-pg, syscall.SIGTERM)
	select {
	case <-s.webDone:
	case <-time.After(grace):
		_ = syscall.Kill(-pg, syscall.SIGKILL)
		<-s.webDone
	}
}

// Logs returns the last lines of Gitea's log, for test failures.
func (s *Server) Logs(n int) string {
	data, err := os.ReadFile(filepath.Join(s.dir, "gitea.log"))
	if err != nil {
		return ""
	}
	return lastLines(string(data), n)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// currentUser is the name Gitea compares RUN_USER with.
func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "root"
}
