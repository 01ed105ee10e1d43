package gitserver

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/carina-gitops/carina/e2e/freeport"
)

// SSHServer is a real OpenSSH sshd on loopback that runs git-shell for one
// generated client key.
type SSHServer struct {
	// Addr is host:port of the server.
	Addr string
	// Host and Port split Addr.
	Host string
	Port int
	// User is the account the client logs in as (the current user).
	User string
	// ClientKeyFile is the client's private key (OpenSSH PEM, no passphrase).
	ClientKeyFile string
	// KnownHostsFile holds the server's host key for Addr, nothing else.
	KnownHostsFile string
	// HostKey is the server's public host key in authorized_keys format.
	HostKey string

	repos *Repos
}

func sshdPath() string {
	if _, err := os.Stat("/usr/sbin/sshd"); err == nil {
		return "/usr/sbin/sshd"
	}
	p, err := exec.LookPath("sshd")
	if err != nil {
		return ""
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return ""
	}
	return abs
}

// RequireSSHD skips the test when sshd or git-shell is missing.
func RequireSSHD(tb testing.TB) {
	tb.Helper()
	RequireGit(tb)
	if sshdPath() == "" {
		tb.Skip("sshd not found; install the Debian package \"openssh-server\" (make test does)")
	}
	if _, err := exec.LookPath("git-shell"); err != nil {
		tb.Skip("git-shell not found; install the Debian package \"git\" (make test does)")
	}
}

// GenerateKey writes a new ed25519 private key in OpenSSH format to path
// and returns the public key in authorized_keys format.
func GenerateKey(path string) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return "", err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))), nil
}

// StartSSH serves repos over SSH with a real sshd until the test ends.
func StartSSH(tb testing.TB, repos *Repos) *SSHServer {
	tb.Helper()
	RequireSSHD(tb)
	u, err := user.Current()
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	hostPub, err := GenerateKey(filepath.Join(dir, "host_key"))
	if err != nil {
		tb.Fatal(err)
	}
	clientPub, err := GenerateKey(filepath.Join(dir, "client_key"))
	if err != nil {
		tb.Fatal(err)
	}
	gitShell, err := exec.LookPath("git-shell")
	if err != nil {
		tb.Fatal(err)
	}
	ak := fmt.Sprintf("restrict,command=\"%s -c \\\"$SSH_ORIGINAL_COMMAND\\\"\" %s\n", gitShell, clientPub)
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(ak), 0o600); err != nil {
		tb.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// sshd started as root needs its privilege separation directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	s := &SSHServer{
		Host:          "127.0.0.1",
		User:          u.Username,
		ClientKeyFile: filepath.Join(dir, "client_key"),
		HostKey:       hostPub,
		repos:         repos,
	}
	var lastErr error
	for range 5 {
		if lastErr = s.start(tb, dir); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		tb.Fatal(lastErr)
	}
	s.KnownHostsFile = filepath.Join(dir, "known_hosts")
	line := fmt.Sprintf("[%s]:%d %s\n", s.Host, s.Port, hostPub)
	if err := os.WriteFile(s.KnownHostsFile, []byte(line), 0o600); err != nil {
		tb.Fatal(err)
	}
	return s
}

// start runs sshd on a free port; it returns an error when sshd does not
// come up (for example because another process took the port).
func (s *SSHServer) start(tb testing.TB, dir string) error {
	port, err := freeport.Port()
	if err != nil {
		return err
	}
	cfg := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfg, []byte(s.config(dir, port, true)), 0o600); err != nil {
		return err
	}
	if out, err := exec.Command(sshdPath(), "-t", "-f", cfg).CombinedOutput(); err != nil {
		if !bytes.Contains(out, []byte("PerSourcePenalties")) {
			return fmt.Errorf("sshd -t: %w\n%s", err, out)
		}
		// An sshd older than 9.8 does not know the option.
		if err := os.WriteFile(cfg, []byte(s.config(dir, port, false)), 0o600); err != nil {
			return err
		}
	}
	cmd := exec.Command(sshdPath(), "-D", "-e", "-f", cfg)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	addr := net.JoinHostPort(s.Host, strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("sshd exited: %v\n%s", err, stderr.String())
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("sshd did not listen on %s: %v\n%s", addr, err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if tb.Failed() && stderr.Len() > 0 {
			tb.Logf("sshd log:\n%s", stderr.String())
		}
	})
	s.Addr, s.Port = addr, port
	return nil
}

func (s *SSHServer) config(dir string, port int, penalties bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Port %d\nListenAddress %s\n", port, s.Host)
	fmt.Fprintf(&b, "HostKey %s\n", filepath.Join(dir, "host_key"))
	fmt.Fprintf(&b, "PidFile %s\n", filepath.Join(dir, "sshd.pid"))
	fmt.Fprintf(&b, "AuthorizedKeysFile %s\n", filepath.Join(dir, "authorized_keys"))
	fmt.Fprintf(&b, "AllowUsers %s\n", s.User)
	b.WriteString("StrictModes no\nUsePAM no\nPasswordAuthentication no\n")
	b.WriteString("KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n")
	b.WriteString("PermitRootLogin prohibit-password\nLogLevel ERROR\nMaxStartups 100\n")
	if penalties {
		b.WriteString("PerSourcePenalties no\n")
	}
	return b.String()
}

// RepoURL returns the ssh:// clone URL of the repository name.
func (s *SSHServer) RepoURL(name string) string {
	return fmt.Sprintf("ssh://%s@%s%s", s.User, s.Addr, filepath.ToSlash(s.repos.Bare(name)))
}

// GitSSHCommand returns a GIT_SSH_COMMAND value that lets the git binary
// reach this server with the client key and strict host key checking.
func (s *SSHServer) GitSSHCommand() string {
	return fmt.Sprintf("ssh -i %s -o IdentitiesOnly=yes -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o BatchMode=yes",
		s.ClientKeyFile, s.KnownHostsFile)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}
