package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/health"
	"github.com/carina-gitops/carina/apply/policy"
	"github.com/carina-gitops/carina/render"
	"github.com/carina-gitops/carina/render/sops"
)

// clusterFlags select the applications, the environment and the cluster
// for apply and diff.
type clusterFlags struct {
	file               string
	env                string
	definitions        []string
	kubeconfig         string
	context            string
	inventoryNamespace string
	prune              bool
	rebuildInventory   bool
	output             string
	decrypt            decryptFlags
}

func (f *clusterFlags) add(cmd *cobra.Command, outputs string) {
	cmd.Flags().StringVarP(&f.file, "file", "f", "", "use the one application in this file")
	cmd.Flags().StringVar(&f.env, "env", "", "the environment (may be left out when there is only one)")
	cmd.Flags().StringArrayVar(&f.definitions, "definitions", nil, "a capability module directory (repeatable; earlier ones win)")
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "path to the kubeconfig (default: $KUBECONFIG or ~/.kube/config)")
	cmd.Flags().StringVar(&f.context, "context", "", "kubeconfig context to use")
	cmd.Flags().StringVar(&f.inventoryNamespace, "inventory-namespace", apply.DefaultOptions().InventoryNamespace, "namespace of the inventory ConfigMaps")
	cmd.Flags().StringVarP(&f.output, "output", "o", "", "output format: "+outputs)
	f.decrypt.register(cmd)
}

// target is one application's environment, rendered, ready to apply.
type target struct {
	env appfile.Environment
	set *apply.Set
	// secret are the SOPS-decrypted fields of the set's objects, by
	// object ref (Kind/namespace/name): a diff masks them on both sides.
	secret map[string][][]string
	// plain are the decrypted values, redacted from errors.
	plain []string
}

// redact removes the target's decrypted values from an error's text.
func (t target) redact(err error) error {
	if err == nil || len(t.plain) == 0 {
		return err
	}
	if msg := sops.Redact(err.Error(), t.plain); msg != err.Error() {
		return errors.New(msg)
	}
	return err
}

func newApplyCmd() *cobra.Command {
	var f clusterFlags
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "apply [PATH | -f FILE] --env NAME",
		Short: "Render an application's environment and apply it to a cluster, once",
		Long: `Apply renders the applications under PATH (default ".") for one environment and
applies them to the cluster of the kubeconfig with server-side apply, as the
agent does: staged, dry-run first, unchanged objects skipped, an inventory
kept in the cluster. It prints a progress line per stage and the change set.

With --prune it deletes what earlier applies created and the application no
longer has. With --wait it waits until everything is healthy (or fails).

An inventory that is corrupt (or was deleted while the objects stayed)
stops apply before anything is written or pruned. --rebuild-inventory
first writes a new inventory that adopts every object carrying the
application's labels (app.carina.dev/name and env), then applies; with
--prune, what the application no longer has is then deleted as usual.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.output != "" && f.output != "json" {
				return fmt.Errorf("output format %q is not supported (use json)", f.output)
			}
			targets, m, err := prepare(cmd.Context(), args, f)
			if err != nil {
				return err
			}
			return runApply(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), m, targets, f, wait, timeout)
		},
	}
	f.add(cmd, "json")
	cmd.Flags().BoolVar(&f.prune, "prune", false, "delete objects of earlier applies that the application no longer has")
	cmd.Flags().BoolVar(&f.rebuildInventory, "rebuild-inventory", false, "replace a corrupt or lost inventory by one adopting every object that carries the application's labels, then apply")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until every object is healthy, or one fails")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long --wait waits")
	return cmd
}

// prepare renders every target and connects to the cluster; nothing is
// applied unless every render succeeded.
func prepare(ctx context.Context, args []string, f clusterFlags) ([]target, *apply.Manager, error) {
	path := "."
	if len(args) == 1 {
		path = args[0]
	}
	if f.file != "" && len(args) == 1 {
		return nil, nil, errors.New("give PATH or -f FILE, not both")
	}
	targets, err := renderTargets(ctx, path, f)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := restConfig(f.kubeconfig, f.context)
	if err != nil {
		return nil, nil, err
	}
	opts := apply.DefaultOptions()
	opts.InventoryNamespace = f.inventoryNamespace
	m, err := apply.New(cfg, opts)
	if err != nil {
		return nil, nil, err
	}
	return targets, m, nil
}

// renderTargets renders the environment of every application under path.
func renderTargets(ctx context.Context, path string, f clusterFlags) ([]target, error) {
	root, apps, err := openApps(path, f.file)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	env := f.env
	if env == "" {
		names := envNames(apps)
		if len(names) != 1 {
			return nil, fmt.Errorf("choose an environment with --env (the applications have %s)", strings.Join(names, ", "))
		}
		env = names[0]
	}
	reg, closeDefs, err := openRegistry(ctx, root, f.definitions)
	if err != nil {
		return nil, err
	}
	defer closeDefs()
	dec, err := f.decrypt.decryption()
	if err != nil {
		return nil, err
	}
	var targets []target
	var errs []error
	for _, app := range apps {
		envs, err := appfile.Environments(app)
		if err != nil {
			errs = append(errs, fmt.Errorf("application %s: %w", app.Name, err))
			continue
		}
		for _, e := range envs {
			if e.Name != env {
				continue
			}
			res, err := render.Render(ctx, app, e, reg, root.FS(), render.DefaultOptions())
			if err == nil {
				err = decryptTarget(ctx, res, root.FS(), dec)
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			t := target{env: e, set: policy.Set(res, app, e, "")}
			t.secret, t.plain = res.DecryptedFields()
			targets = append(targets, t)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("no application under %s has an environment %q (it has %s)", path, env, strings.Join(envNames(apps), ", "))
	}
	return targets, nil
}

// restConfig loads the kubeconfig as kubectl does.
func restConfig(kubeconfig, kubeContext string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return cfg, nil
}

// managerFor impersonates the environment's service account, if it names
// one, with the inventory in the environment's namespace, as the agent
// does: the two find each other's inventories.
func managerFor(m *apply.Manager, t target) (*apply.Manager, error) {
	if t.env.ServiceAccount == "" {
		return m, nil
	}
	ns := t.env.Namespace
	if ns == "" {
		ns = "default"
	}
	return m.ImpersonateTenant(ns, t.env.ServiceAccount)
}

// applyResult is the JSON output of one target.
type applyResult struct {
	ChangeSet *apply.ChangeSet    `json:"changeSet"`
	Health    *apply.HealthReport `json:"health,omitempty"`
	Error     string              `json:"error,omitempty"`
}

func runApply(ctx context.Context, stdout, stderr io.Writer, m *apply.Manager, targets []target, f clusterFlags, wait bool, timeout time.Duration) error {
	var results []applyResult
	var errs []error
	for _, t := range targets {
		r, err := applyTarget(ctx, stdout, stderr, m, t, f, wait, timeout)
		if err = t.redact(err); err != nil {
			r.Error = err.Error()
			errs = append(errs, fmt.Errorf("app %s env %s: %w", t.set.App, t.set.Env, err))
		}
		results = append(results, r)
	}
	if f.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

func applyTarget(ctx context.Context, stdout, stderr io.Writer, m *apply.Manager, t target, f clusterFlags, wait bool, timeout time.Duration) (applyResult, error) {
	var r applyResult
	tm, err := managerFor(m, t)
	if err != nil {
		return r, err
	}
	name := fmt.Sprintf("app %s env %s", t.set.App, t.set.Env)
	if f.rebuildInventory {
		// The person's own credentials: finding the labelled objects
		// lists every resource type, which an env's service account
		// usually may not.
		ids, err := m.RebuildInventory(ctx, t.set.App, t.set.Env)
		if err != nil {
			return r, err
		}
		fmt.Fprintf(stderr, "%s: inventory rebuilt: %d objects carry the app's labels\n", name, len(ids))
	}
	opts := apply.ApplyOptions{Prune: f.prune, CreateNamespaces: true, Progress: func(s apply.StageReport) {
		fmt.Fprintf(stderr, "%s: %s\n", name, s)
	}}
	r.ChangeSet, err = tm.Apply(ctx, t.set, opts)
	if f.output == "" && r.ChangeSet != nil {
		printChangeSet(stdout, name, r.ChangeSet)
	}
	if err != nil || !wait {
		return r, err
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fmt.Fprintf(stderr, "%s: waiting for health (at most %s)\n", name, timeout)
	r.Health, err = tm.Wait(wctx, t.set)
	if f.output == "" && r.Health != nil {
		printHealth(stdout, name, r.Health)
	}
	return r, err
}

// printChangeSet prints what changed, one object a line, and the counts.
func printChangeSet(w io.Writer, name string, cs *apply.ChangeSet) {
	for _, e := range cs.Entries {
		if e.Action != apply.Unchanged {
			fmt.Fprintln(w, e)
		}
	}
	fmt.Fprintf(w, "%s: %s\n", name, cs.Summary())
}

// printHealth prints the app's health and what is not Current.
func printHealth(w io.Writer, name string, rep *apply.HealthReport) {
	for _, o := range rep.Objects {
		if o.Status != health.Current {
			fmt.Fprintf(w, "%s %s: %s\n", o.ID, o.Status, o.Message)
		}
	}
	fmt.Fprintf(w, "%s: %s\n", name, rep.Status)
}
