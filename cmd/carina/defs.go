package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/carina-gitops/carina/capabilities"
)

// defsTimeout bounds compiling templates for show and vet: a template may
// not terminate.
const defsTimeout = 30 * time.Second

func newDefsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "defs",
		Short: "List, document and check component, trait and policy definitions",
	}
	cmd.AddCommand(newDefsListCmd(), newDefsShowCmd(), newDefsVetCmd(), newDefsImportCmd())
	return cmd
}

func newDefsListCmd() *cobra.Command {
	var dirs []string
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the definitions: the built-ins and those of --definitions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg, done, err := defsRegistry(cmd.Context(), dirs)
			if err != nil {
				return err
			}
			defer done()
			return writeDefList(cmd.OutOrStdout(), reg, output)
		},
	}
	cmd.Flags().StringArrayVar(&dirs, "definitions", nil, "a capability module directory (repeatable; earlier ones win)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func newDefsShowCmd() *cobra.Command {
	var dirs []string
	var output, kind string
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Document a definition: its attributes and every parameter with type, default and description",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, done, err := defsRegistry(cmd.Context(), dirs)
			if err != nil {
				return err
			}
			defer done()
			def, err := findDef(reg, args[0], capabilities.Kind(kind))
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), defsTimeout)
			defer cancel()
			params, err := def.Parameters(ctx)
			if err != nil {
				return err
			}
			return writeDef(cmd.OutOrStdout(), reg, def, params, output)
		},
	}
	cmd.Flags().StringArrayVar(&dirs, "definitions", nil, "a capability module directory (repeatable; earlier ones win)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, markdown or json")
	cmd.Flags().StringVar(&kind, "kind", "", "component, trait, policy or workflow-step, when NAME is ambiguous")
	return cmd
}

func newDefsVetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "vet DIR",
		Short: "Check a definition module and report every problem with its file:line:col",
		Long: `Vet reads every .cue file under DIR (recursively, as --definitions does) and
prints each problem with its file:line:col, then one line per definition that
has problems. A definition marked "cannot be loaded" (for example one that
imports KubeVela's vela/* packages) fails only the applications that use it;
the rest of the module loads.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, err := os.OpenRoot(args[0])
			if err != nil {
				return err
			}
			defer root.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), defsTimeout)
			defer cancel()
			m := capabilities.Module{Source: capabilities.SourceCapability, Name: filepath.ToSlash(filepath.Clean(args[0])), FS: root.FS(), Dir: "."}
			reports := capabilities.VetReports(ctx, m, capabilities.DefaultOptions())
			if len(reports) == 0 {
				return nil
			}
			writeVet(cmd.OutOrStdout(), reports)
			return &exitError{code: 1, err: fmt.Errorf("%s: %d definitions with problems", args[0], len(reports))}
		},
	}
}

// writeVet prints every problem, then a summary line per definition.
func writeVet(w io.Writer, reports []capabilities.Report) {
	var probs capabilities.Problems
	for _, r := range reports {
		probs = append(probs, r.Problems...)
	}
	for _, p := range probs {
		fmt.Fprintln(w, p.Error())
	}
	fmt.Fprintf(w, "\n%d definitions have problems:\n", len(reports))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range reports {
		state := "does not check"
		if r.Broken {
			state = "cannot be loaded"
		}
		reason := r.Problems[0].Msg
		if n := len(r.Problems); n > 1 {
			reason += fmt.Sprintf(" (and %d more)", n-1)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", r, r.File, state, reason)
	}
	tw.Flush()
}

// defsRegistry is the built-in library plus the --definitions modules.
func defsRegistry(ctx context.Context, dirs []string) (*capabilities.Registry, func(), error) {
	var roots []*os.Root
	done := func() {
		for _, r := range roots {
			r.Close()
		}
	}
	var modules []capabilities.Module
	for _, dir := range dirs {
		r, err := os.OpenRoot(dir)
		if err != nil {
			done()
			return nil, nil, fmt.Errorf("definitions %s: %w", dir, err)
		}
		roots = append(roots, r)
		modules = append(modules, capabilities.Module{Source: capabilities.SourceCapability, Name: filepath.ToSlash(filepath.Clean(dir)), FS: r.FS(), Dir: "."})
	}
	reg, err := capabilities.NewRegistry(ctx, capabilities.DefaultOptions(), modules...)
	if err != nil {
		done()
		return nil, nil, err
	}
	return reg, done, nil
}

func findDef(reg *capabilities.Registry, name string, kind capabilities.Kind) (*capabilities.Definition, error) {
	if kind != "" {
		return reg.Get(kind, name)
	}
	var found []*capabilities.Definition
	for _, d := range reg.List() {
		if d.Name == name {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no definition is named %q (see carina defs list)", name)
	case 1:
		return found[0], nil
	}
	kinds := make([]string, len(found))
	for i, d := range found {
		kinds[i] = string(d.Kind)
	}
	return nil, fmt.Errorf("%q names a %s; choose with --kind", name, strings.Join(kinds, " and a "))
}

func writeDefList(w io.Writer, reg *capabilities.Registry, output string) error {
	defs := reg.List()
	switch output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(defs)
	case "table":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tNAME\tSOURCE\tDESCRIPTION")
		for _, d := range defs {
			src := string(d.Origin.Source)
			if len(reg.Shadowed(d)) > 0 {
				src += " (overrides " + string(reg.Shadowed(d)[0].Origin.Source) + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Kind, d.Name, src, d.Description)
		}
		return tw.Flush()
	}
	return fmt.Errorf("output format %q is not supported (use table or json)", output)
}

// flatParam is a parameter in a flat listing: nested fields are named
// parent.child, and fields of list elements parent[].child.
type flatParam struct {
	capabilities.Param
	Path string
}

func flatten(prefix string, params []capabilities.Param) []flatParam {
	var out []flatParam
	for _, p := range params {
		path := prefix + p.Name
		out = append(out, flatParam{p, path})
		child := path + "."
		if strings.HasPrefix(p.Type, "[]") {
			child = path + "[]."
		}
		out = append(out, flatten(child, p.Fields)...)
	}
	return out
}

func writeDef(w io.Writer, reg *capabilities.Registry, d *capabilities.Definition, params []capabilities.Param, output string) error {
	switch output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			*capabilities.Definition
			Parameters []capabilities.Param `json:"parameters"`
		}{d, params})
	case "markdown":
		return writeDefMarkdown(w, d, params)
	case "table":
		return writeDefTable(w, reg, d, params)
	}
	return errors.New("output format " + output + " is not supported (use table, markdown or json)")
}

func defFacts(d *capabilities.Definition) [][2]string {
	src := fmt.Sprintf("%s (%s)", d.Origin.Source, d.Origin.File)
	if d.Origin.Revision != "" {
		src = fmt.Sprintf("%s (%s, revision %s)", d.Origin.Source, d.Origin.File, d.Origin.Revision)
	}
	facts := [][2]string{{"Kind", string(d.Kind)}, {"Source", src}}
	a := d.Attributes
	if t := d.WorkloadType(); t != "" {
		facts = append(facts, [2]string{"Workload", t})
	}
	if a.Engine != "" {
		facts = append(facts, [2]string{"Engine", string(a.Engine)})
	}
	if len(a.AppliesToWorkloads) > 0 {
		facts = append(facts, [2]string{"Applies to", strings.Join(a.AppliesToWorkloads, ", ")})
	}
	if len(a.ConflictsWith) > 0 {
		facts = append(facts, [2]string{"Conflicts with", strings.Join(a.ConflictsWith, ", ")})
	}
	if d.Kind == capabilities.KindTrait {
		facts = append(facts, [2]string{"Pod disruptive", fmt.Sprint(a.PodDisruptive)})
	}
	if a.Stage != "" {
		facts = append(facts, [2]string{"Stage", a.Stage})
	}
	if a.Status.HealthPolicy != "" {
		facts = append(facts, [2]string{"Health policy", "yes"})
	}
	return facts
}

func writeDefTable(w io.Writer, reg *capabilities.Registry, d *capabilities.Definition, params []capabilities.Param) error {
	fmt.Fprintf(w, "%s: %s\n\n", d.Name, d.Description)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range defFacts(d) {
		fmt.Fprintf(tw, "%s:\t%s\n", f[0], f[1])
	}
	for _, s := range reg.Shadowed(d) {
		fmt.Fprintf(tw, "Overrides:\t%s (%s)\n", s.Origin.Source, s.Origin.File)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(params) == 0 {
		fmt.Fprintln(w, "No named parameters.")
		return nil
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARAMETER\tTYPE\tREQUIRED\tDEFAULT\tDESCRIPTION")
	for _, p := range flatten("", params) {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", p.Path, p.Type, p.Required, p.Default, p.Description)
	}
	return tw.Flush()
}

func writeDefMarkdown(w io.Writer, d *capabilities.Definition, params []capabilities.Param) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## %s\n\n%s\n\n", d.Name, d.Description)
	for _, f := range defFacts(d) {
		fmt.Fprintf(&b, "- **%s:** %s\n", f[0], f[1])
	}
	b.WriteString("\n")
	if len(params) == 0 {
		b.WriteString("No named parameters.\n")
	} else {
		b.WriteString("| Parameter | Type | Required | Default | Description |\n| --- | --- | --- | --- | --- |\n")
		for _, p := range flatten("", params) {
			fmt.Fprintf(&b, "| `%s` | %s | %v | %s | %s |\n", p.Path, mdCell(p.Type), p.Required, mdCode(p.Default), mdCell(p.Description))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func mdCode(s string) string {
	if s == "" {
		return ""
	}
	return "`" + mdCell(s) + "`"
}
