package render

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/capabilities"
	"github.com/carina-gitops/carina/render/helm"
	"github.com/carina-gitops/carina/render/kustomize"
)

// EngineOptions configure the Go engines of `helm` and `kustomize`
// components.
type EngineOptions struct {
	Helm      helm.Options
	Kustomize kustomize.Options
	// KubeVersion is the target cluster's version for Helm's
	// .Capabilities, like "v1.36.3"; empty uses Helm's default.
	KubeVersion string
	// APIVersions are the target cluster's extra API versions for Helm's
	// .Capabilities.APIVersions; nil uses the defaults.
	APIVersions []string
}

// DefaultEngineOptions are each engine's defaults.
func DefaultEngineOptions() EngineOptions {
	return EngineOptions{Helm: helm.DefaultOptions(), Kustomize: kustomize.DefaultOptions()}
}

// runEngine renders a helm or kustomize component with properties already
// validated and defaulted by its definition.
func (r *renderer) runEngine(ctx context.Context, engine capabilities.Engine, c appfile.Component, props map[string]any) ([]*unstructured.Unstructured, error) {
	eo := r.opts.Engines
	switch engine {
	case capabilities.EngineHelm:
		return helm.Render(ctx, r.fsys, helm.Request{
			Dir:         r.app.Dir,
			Properties:  props,
			ReleaseName: c.Name,
			Namespace:   r.namespace(),
			KubeVersion: eo.KubeVersion,
			APIVersions: eo.APIVersions,
		}, eo.Helm)
	case capabilities.EngineKustomize:
		return kustomize.Render(ctx, r.fsys, kustomize.Request{
			Dir:        r.app.Dir,
			Properties: props,
			Namespace:  r.namespace(),
		}, eo.Kustomize)
	}
	return nil, fmt.Errorf("engine %q is not one of helm, kustomize, manifests", engine)
}
