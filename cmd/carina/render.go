package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/capabilities"
	"github.com/carina-gitops/carina/render"
)

// appDefinitionsDir is where an application repository keeps its own
// definitions; they win over --definitions and the built-ins.
const appDefinitionsDir = ".carina/definitions"

type renderFlags struct {
	file        string
	env         string
	definitions []string
	output      string
	decrypt     decryptFlags
	kubeVersion string
	strict      bool
}

func newRenderCmd() *cobra.Command {
	var f renderFlags
	cmd := &cobra.Command{
		Use:   "render [PATH | -f FILE]",
		Short: "Render an application's Kubernetes objects offline, for one environment or all",
		Long: `Render reads the applications under PATH (default ".") or the one in FILE and
prints the objects of every environment, in workflow order, as a multi-document
YAML stream that kubectl apply accepts. It needs no cluster.

The directory is read confined to itself: symbolic links cannot leave it, and
paths in properties (charts, kustomizations, manifests) resolve inside it.
Definitions come from PATH/` + appDefinitionsDir + `, then each --definitions
directory, then the built-in library.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "."
			if len(args) == 1 {
				path = args[0]
			}
			if f.file != "" && len(args) == 1 {
				return errors.New("give PATH or -f FILE, not both")
			}
			return runRender(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), path, f)
		},
	}
	cmd.Flags().StringVarP(&f.file, "file", "f", "", "render the one application in this file")
	cmd.Flags().StringVar(&f.env, "env", "", "render only this environment (default: all, in workflow order)")
	cmd.Flags().StringArrayVar(&f.definitions, "definitions", nil, "a capability module directory (repeatable; earlier ones win)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "yaml", "output format: yaml or json")
	cmd.Flags().StringVar(&f.kubeVersion, "kube-version", render.DefaultKubeVersion, "the target cluster's Kubernetes version, as templates see it in context.clusterVersion (1.X or v1.X.Y)")
	cmd.Flags().BoolVar(&f.strict, "strict", false, "make warnings errors: a trait outside its appliesToWorkloads, traits that conflictsWith names")
	f.decrypt.register(cmd)
	return cmd
}

// rendered is one environment's result, kept until all succeed.
type rendered struct {
	app *appfile.Application
	res *render.Result
}

func runRender(ctx context.Context, stdout, stderr io.Writer, path string, f renderFlags) error {
	if f.output != "yaml" && f.output != "json" {
		return fmt.Errorf("output format %q is not supported (use yaml or json)", f.output)
	}
	root, apps, err := openApps(path, f.file)
	if err != nil {
		return err
	}
	defer root.Close()
	reg, closeDefs, err := openRegistry(ctx, root, f.definitions)
	if err != nil {
		return err
	}
	defer closeDefs()
	dec, err := f.decrypt.decryption()
	if err != nil {
		return err
	}

	progress := time.AfterFunc(time.Second, func() { fmt.Fprintln(stderr, "rendering...") })
	defer progress.Stop()
	var (
		results []rendered
		errs    []error
		matched bool
	)
	for _, app := range apps {
		envs, err := appfile.Environments(app)
		if err != nil {
			errs = append(errs, fmt.Errorf("application %s: %w", app.Name, err))
			continue
		}
		for _, env := range envs {
			if f.env != "" && env.Name != f.env {
				continue
			}
			matched = true
			opts := render.DefaultOptions()
			opts.KubeVersion, opts.Strict = f.kubeVersion, f.strict
			res, err := render.Render(ctx, app, env, reg, root.FS(), opts)
			if err == nil {
				err = render.Decrypt(ctx, res, root.FS(), dec)
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(stderr, "warning: application %s (env %s): %s\n", app.Name, env.Name, w)
			}
			results = append(results, rendered{app, res})
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if !matched {
		return fmt.Errorf("no application under %s has an environment %q (it has %s)", path, f.env, strings.Join(envNames(apps), ", "))
	}
	return writeObjects(stdout, results, f.output)
}

// openApps opens the directory confined to itself and loads its
// applications, or the one application of file.
func openApps(path, file string) (*os.Root, []*appfile.Application, error) {
	if file == "" {
		if st, err := os.Stat(path); err == nil && !st.IsDir() {
			file = path
		}
	}
	if file != "" {
		root, err := os.OpenRoot(filepath.Dir(file))
		if err != nil {
			return nil, nil, err
		}
		name := filepath.Base(file)
		data, err := root.ReadFile(name)
		if err != nil {
			root.Close()
			return nil, nil, err
		}
		app, err := appfile.Parse(name, data)
		if err != nil {
			root.Close()
			return nil, nil, err
		}
		app.Dir = "."
		return root, []*appfile.Application{app}, nil
	}
	root, err := os.OpenRoot(path)
	if err != nil {
		return nil, nil, err
	}
	apps, err := appfile.Load(root.FS(), ".")
	if err != nil {
		root.Close()
		return nil, nil, err
	}
	if len(apps) == 0 {
		root.Close()
		return nil, nil, fmt.Errorf("no application found under %s", path)
	}
	return root, apps, nil
}

// openRegistry loads the repository's own definitions, the --definitions
// modules and the built-ins. The returned function closes the modules.
func openRegistry(ctx context.Context, repo *os.Root, dirs []string) (*capabilities.Registry, func(), error) {
	modules := []capabilities.Module{{Source: capabilities.SourceApp, FS: repo.FS(), Dir: appDefinitionsDir, Optional: true}}
	var roots []*os.Root
	closeAll := func() {
		for _, r := range roots {
			r.Close()
		}
	}
	for _, dir := range dirs {
		r, err := os.OpenRoot(dir)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("definitions %s: %w", dir, err)
		}
		roots = append(roots, r)
		modules = append(modules, capabilities.Module{Source: capabilities.SourceCapability, Name: filepath.ToSlash(filepath.Clean(dir)), FS: r.FS(), Dir: "."})
	}
	reg, err := capabilities.NewRegistry(ctx, capabilities.DefaultOptions(), modules...)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return reg, closeAll, nil
}

func envNames(apps []*appfile.Application) []string {
	var names []string
	for _, app := range apps {
		envs, err := appfile.Environments(app)
		if err != nil {
			continue
		}
		for _, e := range envs {
			if !slices.Contains(names, e.Name) {
				names = append(names, e.Name)
			}
		}
	}
	return names
}

// writeObjects prints a YAML stream (each document headed by a comment
// saying where it comes from) or a v1 List in JSON.
func writeObjects(w io.Writer, results []rendered, format string) error {
	if format == "json" {
		list := map[string]any{"apiVersion": "v1", "kind": "List", "items": []any{}}
		var items []any
		for _, r := range results {
			for _, o := range r.res.Objects {
				items = append(items, o.Object.Object)
			}
		}
		if items != nil {
			list["items"] = items
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	var b bytes.Buffer
	for _, r := range results {
		for _, o := range r.res.Objects {
			data, err := yaml.Marshal(o.Object.Object)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "---\n# app %s, env %s, component %s (%s)\n", r.res.App, r.res.Env, o.Component, o.Definition)
			b.Write(data)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}
