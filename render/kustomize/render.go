package kustomize

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/resid"
	"sigs.k8s.io/yaml"
)

// Request is one render of a `kustomize` component.
type Request struct {
	// Dir is the application's directory inside the file system, relative to
	// the repository root. properties.path resolves against it.
	Dir string
	// Properties are the component's properties after CUE defaulting.
	Properties map[string]any
	// Namespace is the environment's namespace. The engine does not use it:
	// properties.namespace sets the kustomize namespace, and the render
	// package puts objects that have none in the environment's namespace.
	Namespace string
}

// Render builds the kustomization at properties.path with the properties
// applied on top, substitutes variables, and returns the objects in
// kustomize's output order. On error nothing is returned.
func Render(ctx context.Context, fsys fs.FS, req Request, opts Options) ([]*unstructured.Unstructured, error) {
	p, err := parseProperties(req.Properties)
	if err != nil {
		return nil, err
	}
	root, err := kustomizationRoot(req.Dir, p.Path)
	if err != nil {
		return nil, err
	}
	t := newTree(fsys, opts)
	if err := t.load(ctx, root); err != nil {
		return nil, err
	}
	target := memPath(root)
	if p.transforms() {
		if target, err = t.writeOverlay(root, p); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kustomization %s: %w", root, err)
	}
	m, err := krusty.MakeKustomizer(krustyOptions()).Run(t.mem, target)
	if err != nil {
		return nil, fmt.Errorf("kustomization %s: %s", root, cleanMemPaths(err.Error()))
	}
	objs, err := toObjects(m, p.Substitute, opts)
	if err != nil {
		return nil, fmt.Errorf("kustomization %s: %w", root, err)
	}
	return objs, nil
}

func kustomizationRoot(dir, rel string) (string, error) {
	if path.IsAbs(rel) || strings.HasPrefix(rel, `\`) {
		return "", fmt.Errorf("kustomize path %q is absolute; it must be relative to the application directory", rel)
	}
	p := path.Join(dir, rel)
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("kustomize path %q escapes the repository root", rel)
	}
	return p, nil
}

// krustyOptions: builtin plugins only, files load from inside their
// kustomization only, no Helm, and the order of the kustomization (the
// render package sorts).
func krustyOptions() *krusty.Options {
	o := krusty.MakeDefaultOptions()
	o.LoadRestrictions = types.LoadRestrictionsRootOnly
	o.PluginConfig = types.DisabledPluginConfig()
	o.PluginConfig.HelmConfig.Enabled = false
	o.Reorder = krusty.ReorderOptionNone
	o.AddManagedbyLabel = false
	return o
}

// load copies the kustomization at root and every directory it references,
// checking each kustomization on the way.
func (t *tree) load(ctx context.Context, root string) error {
	queue := []ref{{dir: root}}
	seen := map[ref]bool{}
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		if seen[r] {
			continue
		}
		seen[r] = true
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("kustomization %s: %w", root, err)
		}
		isDir, exists, err := t.stat(r.dir)
		switch {
		case err != nil:
			return fmt.Errorf("kustomization %s: %w", r.dir, err)
		case !exists || !isDir:
			return fmt.Errorf("kustomization %s: not a directory in the repository", r.dir)
		}
		if err := t.copyDir(r.dir); err != nil {
			return fmt.Errorf("kustomization %s: %w", r.dir, err)
		}
		file, data, err := t.kustomizationFile(r.dir)
		if err != nil {
			return fmt.Errorf("kustomization %w", err)
		}
		refs, err := t.checkKustomization(r.dir, file, data, r.plugin)
		if err != nil {
			return err
		}
		queue = append(queue, refs...)
	}
	return nil
}

// writeOverlay writes a kustomization beside the repository that takes the
// user's kustomization as its one resource and applies the properties.
func (t *tree) writeOverlay(root string, p properties) (string, error) {
	k := types.Kustomization{
		TypeMeta:   types.TypeMeta{APIVersion: types.KustomizationVersion, Kind: types.KustomizationKind},
		Resources:  []string{".." + memPath(root)},
		NamePrefix: p.NamePrefix,
		NameSuffix: p.NameSuffix,
		Namespace:  p.Namespace,
	}
	for _, im := range p.Images {
		k.Images = append(k.Images, types.Image{Name: im.Name, NewName: im.NewName, NewTag: im.NewTag, Digest: im.Digest})
	}
	for _, pt := range p.Patches {
		patch := types.Patch{Patch: pt.Patch}
		if s := pt.Target; s != nil {
			patch.Target = &types.Selector{
				ResId:              resIDOf(s),
				LabelSelector:      s.LabelSelector,
				AnnotationSelector: s.AnnotationSelector,
			}
		}
		k.Patches = append(k.Patches, patch)
	}
	if len(p.CommonLabels) > 0 {
		// commonLabels, without kustomize's deprecation warning.
		k.Labels = []types.Label{{Pairs: p.CommonLabels, IncludeSelectors: true}}
	}
	data, err := yaml.Marshal(k)
	if err != nil {
		return "", fmt.Errorf("kustomize overlay: %w", err)
	}
	if err := t.mem.MkdirAll(memOverlay); err != nil {
		return "", err
	}
	if err := t.mem.WriteFile(memOverlay+"/kustomization.yaml", data); err != nil {
		return "", err
	}
	return memOverlay, nil
}

// cleanMemPaths turns in-memory paths in kustomize's messages back into
// repository paths.
func cleanMemPaths(msg string) string {
	msg = strings.ReplaceAll(msg, ".."+memRepo+"/", "")
	msg = strings.ReplaceAll(msg, memRepo+"/", "")
	return strings.ReplaceAll(msg, memOverlay+"/", "(properties)/")
}

func resIDOf(s *target) resid.ResId {
	return resid.ResId{
		Gvk:       resid.Gvk{Group: s.Group, Version: s.Version, Kind: s.Kind},
		Name:      s.Name,
		Namespace: s.Namespace,
	}
}
