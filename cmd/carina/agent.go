package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/carina-gitops/carina/agent"
	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/render"
	"github.com/carina-gitops/carina/render/pool"
)

type agentFlags struct {
	config    string
	check     bool
	debugAddr string
	logFormat string
	logLevel  string
}

func newAgentCmd() *cobra.Command {
	var f agentFlags
	cmd := &cobra.Command{
		Use:   "agent --config carina.yaml",
		Short: "Run the GitOps agent: keep every environment of every application in the state Git declares",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.config == "" {
				return errors.New("--config is required")
			}
			cfg, err := config.Load(f.config)
			if err != nil {
				return err
			}
			if err := cfg.CheckSecrets(); err != nil {
				return fmt.Errorf("config %s: %w", f.config, err)
			}
			if f.check {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "config %s is valid: %d app sources, %d capability sources, %d clusters, %d webhooks\n",
					f.config, len(cfg.Sources.Apps), len(cfg.Sources.Capabilities), len(cfg.Clusters), len(cfg.Webhooks))
				return err
			}
			return runAgent(cmd, cfg, f)
		},
	}
	cmd.Flags().StringVar(&f.config, "config", "", "the agent's configuration file (carina.yaml)")
	cmd.Flags().BoolVar(&f.check, "check", false, "only validate the configuration and exit")
	cmd.Flags().StringVar(&f.debugAddr, "debug-addr", "", "serve pprof on this loopback address (off by default)")
	cmd.Flags().StringVar(&f.logFormat, "log-format", "json", "log format: json or text")
	cmd.Flags().StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

// runAgent builds the clusters and the agent from cfg and runs it until
// the command's context ends (SIGINT or SIGTERM).
func runAgent(cmd *cobra.Command, cfg *config.Config, f agentFlags) error {
	log, err := newLogger(cmd.ErrOrStderr(), f.logFormat, f.logLevel)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	clusters, err := agent.BuildClusters(ctx, cfg)
	if err != nil {
		return err
	}
	// Renders run in worker processes (this binary re-executed): a render
	// past its deadline is killed instead of burning CPU here.
	workers, err := pool.New(pool.Options{Workers: cfg.Limits.Render.Workers, MemoryLimit: int64(cfg.Limits.Render.WorkerMemory)})
	if err != nil {
		return err
	}
	defer workers.Close()
	host, _ := os.Hostname()
	a, err := agent.New(agent.Options{
		Config: cfg, Logger: log, Targets: clusters.Targets, Renderer: render.NewIsolated(workers), ReadSecret: clusters.ReadSecret,
		Events: &agent.KubeEvents{Clients: clusters.Clients, Component: "carina-agent", Host: host},
	})
	if err != nil {
		return err
	}
	debug := f.debugAddr
	if debug == "" {
		debug = cfg.Server.DebugAddr
	}
	return a.Run(ctx, agent.RunOptions{Clients: clusters.Clients, REST: clusters.REST, DebugAddr: debug})
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q is not json or text", format)
}
