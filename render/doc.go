// Package render turns an Application, one of its environments, the
// capability registry and a repository file tree into a deterministic, sorted
// list of Kubernetes objects. It is pure: no cluster access and no network
// except chart downloads the application names explicitly.
//
// Render applies the environment's override policies, validates policies,
// renders each component with its CUE definition (package render/cue) or a
// Go engine (render/helm, render/kustomize, or the manifests engine here),
// applies traits, adds Carina's ownership labels and the environment's
// namespace, sorts the objects for apply and digests them. It runs under a
// budget (Options) and never returns a partial result.
//
//	res, err := render.Render(ctx, app, env, reg, repoFS, render.DefaultOptions())
//	for _, o := range res.Objects { ... o.Object, o.Component, o.Health ... }
package render
