package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/render"
	"github.com/carina-gitops/carina/source/pin"
)

// renderEnv renders app's env at commit of repo, from a temporary
// checkout. It returns the objects by Kind/namespace/name and their JSON
// (only compared, never shown, so no Secret value leaves).
func renderEnv(ctx context.Context, repo *pin.Repo, commit, app, env string) (map[string][]byte, error) {
	dir, err := os.MkdirTemp("", "carina-promote-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tree := filepath.Join(dir, "tree")
	if err := repo.WriteTree(ctx, commit, tree, pin.DefaultCheckoutLimits()); err != nil {
		return nil, err
	}
	root, apps, err := openApps(tree, "")
	if err != nil {
		return nil, err
	}
	defer root.Close()
	reg, closeDefs, err := openRegistry(ctx, root, nil)
	if err != nil {
		return nil, err
	}
	defer closeDefs()
	for _, a := range apps {
		if a.Name != app {
			continue
		}
		envs, err := appfile.Environments(a)
		if err != nil {
			return nil, fmt.Errorf("application %s: %w", app, err)
		}
		for _, e := range envs {
			if e.Name != env {
				continue
			}
			res, err := render.Render(ctx, a, e, reg, root.FS(), render.DefaultOptions())
			if err != nil {
				return nil, err
			}
			return res.ByRef()
		}
		return nil, fmt.Errorf("application %s has no environment %s", app, env)
	}
	return nil, fmt.Errorf("no application %s at %s", app, pin.Short(commit))
}
