package gitea

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carina-gitops/carina/e2e/freeport"
)

// Options configures a Gitea server.
type Options struct {
	// Build says where the binary is cached and built.
	Build BuildOptions
	// ReadyTimeout bounds how long Start waits for the API. Default 90 s.
	ReadyTimeout time.Duration
	// TempDir is the parent of the server's directory. Default os.TempDir().
	TempDir string
}

// DefaultOptions returns the default cache and a 90 s readiness timeout.
func DefaultOptions() Options { return Options{ReadyTimeout: 90 * time.Second} }

// The admin account Start creates. The password is not secret: the server
// only listens on loopback and lives as long as a test.
const (
	AdminUser     = "carina-admin"
	AdminPassword = "carina-admin-password-1"
	adminEmail    = "carina-admin@example.invalid"
)

// Server is a running Gitea on loopback.
type Server struct {
	// URL is the root URL, "http://127.0.0.1:PORT" (no trailing slash).
	URL string
	// Token is the admin's API token (all scopes).
	Token string

	bin     *Binary
	dir     string
	appIni  string
	dog     *watchdog
	web     *exec.Cmd
	webDone chan struct{}
	webErr  error
	startup time.Duration

	stopOnce sync.Once
	stopErr  error
}

// Start builds (or reuses) the Gitea binary and starts a server with a
// fresh sqlite database, an admin user and its token. On error nothing is
// left running.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = DefaultOptions().ReadyTimeout
	}
	bin, err := EnsureBinary(ctx, opts.Build)
	if err != nil {
		return nil, err
	}
	began := time.Now()
	dir, err := os.MkdirTemp(opts.TempDir, "carina-gitea-")
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: dir, appIni: filepath.Join(dir, "app.ini")}
	if s.dog, err = startWatchdog(dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.ReadyTimeout)
	defer cancel()
	if err := s.boot(ctx); err != nil {
		logs := s.Logs(30)
		s.Stop()
		return nil, fmt.Errorf("gitea: %w\n%s", err, logs)
	}
	s.startup = time.Since(began)
	return s, nil
}

func (s *Server) boot(ctx context.Context) error {
	port, err := freeport.Port()
	if err != nil {
		return err
	}
	s.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	for _, d := range []string{"data", "repos", "log", "custom"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(s.appIni, []byte(s.config(port)), 0o600); err != nil {
		return err
	}
	if _, err := s.runCLI(2*time.Minute, "migrate"); err != nil {
		return err
	}
	out, err := s.runCLI(time.Minute, "admin", "user", "create", "--admin",
		"--username", AdminUser, "--password", AdminPassword, "--email", adminEmail,
		"--must-change-password=false", "--access-token", "--access-token-name", "carina-tests",
		"--access-token-scopes", "all")
	if err != nil {
		return err
	}
	if s.Token, err = parseToken(out); err != nil {
		return err
	}
	if err := s.startWeb(); err != nil {
		return err
	}
	return s.waitReady(ctx)
}

// parseToken reads the token "gitea admin user create --access-token"
// prints.
func parseToken(out string) (string, error) {
	const prefix = "Access token was successfully created..."
	for _, line := range strings.Split(out, "\n") {
		if tok, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok && strings.TrimSpace(tok) != "" {
			return strings.TrimSpace(tok), nil
		}
	}
	return "", errors.New("gitea admin user create printed no access token")
}

// config is the app.ini: sqlite, installed and offline, loopback only,
// channel queues (webhooks go out at once) and webhooks allowed to loopback.
func (s *Server) config(port int) string {
	d := s.dir
	return fmt.Sprintf(`APP_NAME = carina-test
RUN_MODE = prod
RUN_USER = %[1]s
WORK_PATH = %[2]s

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %[3]d
DOMAIN = 127.0.0.1
ROOT_URL = http://127.0.0.1:%[3]d/
LOCAL_ROOT_URL = http://127.0.0.1:%[3]d/
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false
APP_DATA_PATH = %[2]s/data
STATIC_ROOT_PATH = %[4]s

[database]
DB_TYPE = sqlite3
PATH = %[2]s/data/gitea.db
SQLITE_JOURNAL_MODE = WAL

[repository]
ROOT = %[2]s/repos
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = %[5]s
INTERNAL_TOKEN = %[6]s
ALLOWED_HOST_LIST = loopback

[oauth2]
ENABLED = false

[webhook]
ALLOWED_HOST_LIST = loopback
DELIVER_TIMEOUT = 5
SKIP_TLS_VERIFY = false

[queue]
TYPE = channel

[service]
DISABLE_REGISTRATION = true
DEFAULT_KEEP_EMAIL_PRIVATE = true

[mailer]
ENABLED = false

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[picture]
DISABLE_GRAVATAR = true
ENABLE_FEDERATED_AVATAR = false

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[actions]
ENABLED = false

[cron]
ENABLED = false

[cron.update_checker]
ENABLED = false

[log]
MODE = console
LEVEL = Warn
ROOT_PATH = %[2]s/log
`, currentUser(), d, port, s.bin.StaticRoot, randomHex(32), randomHex(40))
}

// waitReady polls the version endpoint until Gitea answers.
func (s *Server) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-s.webDone:
			return fmt.Errorf("gitea web exited: %v", s.webErr)
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v1/version", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gitea not ready: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop terminates Gitea and removes its directory. It is safe to call
// more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.stopWeb(10 * time.Second)
		s.stopErr = s.dog.stop()
		if err := os.RemoveAll(s.dir); err != nil {
			s.stopErr = errors.Join(s.stopErr, err)
		}
	})
	return s.stopErr
}

// Dir is the server's working directory (app.ini, data, repositories).
func (s *Server) Dir() string { return s.dir }

// Binary is the build the server runs.
func (s *Server) Binary() *Binary { return s.bin }

// StartupDuration is how long Start took once the binary was there.
func (s *Server) StartupDuration() time.Duration { return s.startup }

// APIURL is the base of the REST API, "http://127.0.0.1:PORT/api/v1".
func (s *Server) APIURL() string { return s.URL + "/api/v1" }

// TokenFile writes the admin token to a file in dir and returns its path,
// for code that reads its token from a file.
func (s *Server) TokenFile(dir string) (string, error) {
	p := filepath.Join(dir, "gitea-token")
	return p, os.WriteFile(p, []byte(s.Token+"\n"), 0o600)
}

func randomHex(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
