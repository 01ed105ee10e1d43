package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/carina-gitops/carina/internal/version"
)

type versionOutput struct {
	version.Info
	Server string `json:"server,omitempty"`
}

func newVersionCmd() *cobra.Command {
	var output, kubeconfig, kubeContext string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, Go and client-go versions (and the server's with --kubeconfig)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := versionOutput{Info: version.Get()}
			if kubeconfig != "" || kubeContext != "" {
				server, err := serverVersion(kubeconfig, kubeContext)
				if err != nil {
					return err
				}
				out.Server = server
			}
			switch output {
			case "":
				if _, err := fmt.Fprintln(cmd.OutOrStdout(), out.Info.String()); err != nil {
					return err
				}
				if out.Server != "" {
					_, err := fmt.Fprintln(cmd.OutOrStdout(), "server", out.Server)
					return err
				}
				return nil
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			default:
				return fmt.Errorf("output format %q is not supported (use json)", output)
			}
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "also report the version of the cluster in this kubeconfig")
	cmd.Flags().StringVar(&kubeContext, "context", "", "kubeconfig context to use")
	return cmd
}

func serverVersion(kubeconfig, kubeContext string) (string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		return "", fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return "", err
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return "", fmt.Errorf("server version from %s: %w", cfg.Host, err)
	}
	return v.GitVersion, nil
}
