package walkthrough

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/carina-gitops/carina/agent"
	"github.com/carina-gitops/carina/agent/api"
	"github.com/carina-gitops/carina/agent/config"
)

// AgentOptions say how to run the agent.
type AgentOptions struct {
	// Config is the carina.yaml to load.
	Config string
	// Log is the file the agent logs to (text, info level).
	Log string
	// Listener serves the agent's API, webhooks and metrics.
	Listener net.Listener
	// Token is the API token of the config's server.api.tokenFile, for
	// Agent.Client.
	Token string
}

// Agent is an agent running in process.
type Agent struct {
	// URL is the agent's API address, http://HOST:PORT.
	URL string
	// Client calls the agent's API with the token.
	Client *api.Client

	cancel context.CancelFunc
	done   chan error
	logf   *os.File
}

// StartAgent loads opts.Config with the real parser and runs the agent
// until ctx ends or Stop, as `carina agent --config` does. It owns the
// listener from then on, also on error.
func StartAgent(ctx context.Context, opts AgentOptions) (*Agent, error) {
	ctx, cancel := context.WithCancel(ctx)
	fail := func(err error) (*Agent, error) {
		opts.Listener.Close()
		cancel()
		return nil, err
	}
	cfg, err := config.Load(opts.Config)
	if err != nil {
		return fail(err)
	}
	if err := cfg.CheckSecrets(); err != nil {
		return fail(fmt.Errorf("config %s: %w", opts.Config, err))
	}
	clusters, err := agent.BuildClusters(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	logf, err := os.Create(opts.Log)
	if err != nil {
		return fail(err)
	}
	log := slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	host, _ := os.Hostname()
	a, err := agent.New(agent.Options{Config: cfg, Logger: log, Targets: clusters.Targets, ReadSecret: clusters.ReadSecret,
		Events: &agent.KubeEvents{Clients: clusters.Clients, Component: "carina-agent", Host: host}})
	if err != nil {
		logf.Close()
		return fail(err)
	}
	url := "http://" + opts.Listener.Addr().String()
	r := &Agent{URL: url, Client: &api.Client{BaseURL: url, Token: opts.Token}, cancel: cancel, done: make(chan error, 1), logf: logf}
	go func() {
		r.done <- a.Run(ctx, agent.RunOptions{Clients: clusters.Clients, REST: clusters.REST, Listener: opts.Listener})
	}()
	return r, nil
}

// Stop stops the agent and waits up to 15 s for it; the error is how
// Run ended, nil for a clean stop.
func (a *Agent) Stop() error {
	a.cancel()
	defer a.logf.Close()
	select {
	case err := <-a.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("agent stopped with: %w", err)
		}
		return nil
	case <-time.After(15 * time.Second):
		return errors.New("agent did not stop within 15 s")
	}
}

// RandomHex is 32 random hex digits, for tokens and secrets.
func RandomHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CarinaCommand is how to run carina from the repository root: the
// binary make built (bin/carina), by its absolute path, or `go run`.
func CarinaCommand(root string) string {
	bin := filepath.Join(root, "bin", "carina")
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return bin
	}
	return "go run ./cmd/carina"
}
