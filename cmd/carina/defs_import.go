package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"

	"github.com/carina-gitops/carina/capabilities/kubevela"
)

func newDefsImportCmd() *cobra.Command {
	var kubeconfig, kubeContext, namespace, out string
	cmd := &cobra.Command{
		Use:   "import -o DIR",
		Short: "Write the KubeVela definitions installed in a cluster as CUE files",
		Long: `Import reads the ComponentDefinition, TraitDefinition, PolicyDefinition and
WorkflowStepDefinition objects of a namespace (vela-system by default) and
writes each as a CUE file in KubeVela's definition format under DIR, in
component/, trait/, policy/ and workflowstep/. The files load unchanged as a
capability module (--definitions DIR, or a source's definitions).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("defs import: -o DIR is required")
			}
			cfg, err := restConfig(kubeconfig, kubeContext)
			if err != nil {
				return err
			}
			dyn, err := dynamic.NewForConfig(cfg)
			if err != nil {
				return err
			}
			files, readErr := kubevela.ReadDefinitions(cmd.Context(), dyn, namespace)
			for _, f := range files {
				if err := writeUnder(out, f.Path, f.Data); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d definitions written to %s\n", len(files), out)
			return readErr
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "path to the kubeconfig (default: $KUBECONFIG or ~/.kube/config)")
	cmd.Flags().StringVar(&kubeContext, "context", "", "kubeconfig context to use")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "vela-system", "namespace of the definitions")
	cmd.Flags().StringVarP(&out, "output", "o", "", "directory to write the files to")
	return cmd
}

// writeUnder writes data at the slash-separated path rel below dir,
// making the directories it needs (defs import, migrate kubevela).
func writeUnder(dir, rel string, data []byte) error {
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}
