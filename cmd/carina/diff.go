package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/apply/diff"
)

// Exit codes of carina diff besides 0 (nothing would change), as diff(1).
const (
	diffChanged = 1
	diffTrouble = 2
)

func newDiffCmd() *cobra.Command {
	var f clusterFlags
	cmd := &cobra.Command{
		Use:   "diff [PATH | -f FILE] --env NAME",
		Short: "Show what carina apply would change in the cluster",
		Long: `Diff renders the applications under PATH (default ".") for one environment and
compares them with the cluster, from the API server's dry-run: only fields
that would change are shown, server-set fields are ignored, Secret values
are masked. SOPS-encrypted values need --decrypt and a key; the fields
they fill are masked on both sides. With --prune it also shows what an
apply with --prune would delete.

It exits 0 when nothing would change, 1 when something would, and 2 on
error, as diff does.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.output != "" && f.output != "unified" && f.output != "json" {
				return &exitError{code: diffTrouble, err: fmt.Errorf("output format %q is not supported (use unified or json)", f.output)}
			}
			targets, m, err := prepare(cmd.Context(), args, f)
			if err != nil {
				return &exitError{code: diffTrouble, err: err}
			}
			return runDiff(cmd.Context(), cmd.OutOrStdout(), m, targets, f)
		},
	}
	f.add(cmd, "unified (default) or json")
	cmd.Flags().BoolVar(&f.prune, "prune", false, "also show what apply --prune would delete")
	return cmd
}

func runDiff(ctx context.Context, stdout io.Writer, m *apply.Manager, targets []target, f clusterFlags) error {
	var all []diff.Object
	var errs []error
	for _, t := range targets {
		tm, err := managerFor(m, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		objs, err := tm.Diff(ctx, t.set, apply.DiffOptions{Prune: f.prune})
		if err = t.redact(err); err != nil {
			errs = append(errs, fmt.Errorf("app %s env %s: %w", t.set.App, t.set.Env, err))
		}
		for i := range objs {
			if paths := t.secret[strings.TrimSuffix(objs[i].Ref, " (recreated)")]; len(paths) > 0 {
				objs[i].MaskFields(paths)
			}
		}
		all = append(all, objs...)
	}
	if len(errs) > 0 {
		return &exitError{code: diffTrouble, err: errors.Join(errs...)}
	}
	var err error
	if f.output == "json" {
		err = diff.WriteJSON(stdout, all)
	} else {
		err = diff.WriteUnified(stdout, all)
	}
	if err != nil {
		return &exitError{code: diffTrouble, err: err}
	}
	changed := 0
	for _, o := range all {
		if o.Changed() {
			changed++
		}
	}
	if changed > 0 {
		return &exitError{code: diffChanged, err: fmt.Errorf("%d objects would change", changed), quiet: true}
	}
	return nil
}
