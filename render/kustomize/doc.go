// Package kustomize renders the `kustomize` component type with krusty,
// kustomize's own engine, on an in-memory copy of the part of the
// repository the kustomization needs, so that the build can never read or
// write the real disk.
//
// The copy starts at the kustomization's directory and follows the
// directories it references (bases in ../base, components), never out of
// the repository root. Before krusty runs, every kustomization and every
// generator or transformer configuration is checked: remote bases and
// remote files (URLs, git references) are refused, and so are Helm chart
// inflation and KRM functions (exec or container); non-builtin plugins are
// off, and files load only from inside their kustomization's directory
// (kustomize's root-only load restrictor).
//
// The component's properties (images, patches, namePrefix, nameSuffix,
// namespace, commonLabels) become a kustomization generated in memory on
// top of the user's; substitute then replaces ${VAR} and ${VAR:=default} in
// the output, as Flux's post-build substitution does.
//
// Usage:
//
//	objs, err := kustomize.Render(ctx, snapshotFS, kustomize.Request{
//		Dir:        "apps/shop",
//		Properties: map[string]any{"path": "deploy/overlays/prod", "namePrefix": "eu-"},
//	}, kustomize.DefaultOptions())
package kustomize
