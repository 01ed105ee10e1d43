package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"

	"github.com/carina-gitops/carina/appfile/kubevela"
)

func newMigrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Move applications from another tool to Carina",
	}
	cmd.AddCommand(newMigrateKubeVelaCmd())
	return cmd
}

func newMigrateKubeVelaCmd() *cobra.Command {
	var kubeconfig, kubeContext, namespace, out string
	cmd := &cobra.Command{
		Use:   "kubevela -o DIR",
		Short: "Write a cluster's KubeVela Applications as Application files, ready to commit",
		Long: `Migrate reads the KubeVela Application objects of the cluster (of one
namespace with --namespace) and writes each to DIR/<namespace>/<name>.yaml:
the same apiVersion, kind and spec, without status and without KubeVela's
and the API server's bookkeeping (managed fields, UID, revisions,
app.oam.dev/* labels and annotations other than app.oam.dev/publishVersion).
Bring the definitions along with carina defs import. Carina's first apply
then adopts the objects KubeVela created (docs/migrate-kubevela.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("migrate kubevela: -o DIR is required")
			}
			cfg, err := restConfig(kubeconfig, kubeContext)
			if err != nil {
				return err
			}
			dyn, err := dynamic.NewForConfig(cfg)
			if err != nil {
				return err
			}
			files, err := kubevela.ReadApplications(cmd.Context(), dyn, namespace)
			if err != nil {
				return err
			}
			names := map[string]string{}
			for _, f := range files {
				if other, dup := names[f.Name]; dup {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s and %s share the name %s; Carina needs unique names in one repository\n", other, f.Path, f.Name)
				}
				names[f.Name] = f.Path
				if err := writeUnder(out, f.Path, f.Data); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d applications written to %s\n", len(files), out)
			return nil
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "path to the kubeconfig (default: $KUBECONFIG or ~/.kube/config)")
	cmd.Flags().StringVar(&kubeContext, "context", "", "kubeconfig context to use")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "read only this namespace (default: all)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "directory to write the files to")
	return cmd
}
