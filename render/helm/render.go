package helm

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Request is one render of a `helm` component.
type Request struct {
	// Dir is the application's directory inside the file system, relative to
	// the repository root. Relative paths in Properties resolve against it.
	Dir string
	// Properties are the component's properties after CUE defaulting.
	Properties map[string]any
	// ReleaseName is used when properties.releaseName is unset (the
	// component's name).
	ReleaseName string
	// Namespace is used when properties.namespace is unset (the
	// environment's namespace). "default" when both are empty.
	Namespace string
	// KubeVersion is the target cluster's version, like "v1.36.3"; empty
	// uses helm's default.
	KubeVersion string
	// APIVersions are extra capabilities (".Capabilities.APIVersions.Has").
	APIVersions []string
}

// Render loads the chart the request names, renders it offline and returns
// its objects: CRDs first (when includeCRDs), then the manifests in helm's
// install order, then the hooks Options lets through. Every object that does
// not say its namespace and is not of a cluster-scoped kind is put in the
// release namespace, as `helm install -n` would. On error nothing is
// returned.
func Render(ctx context.Context, fsys fs.FS, req Request, opts Options) ([]*unstructured.Unstructured, error) {
	p, err := parseProperties(req.Properties)
	if err != nil {
		return nil, err
	}
	rel, err := releaseOptions(p, req)
	if err != nil {
		return nil, err
	}
	caps, err := capabilities(req)
	if err != nil {
		return nil, err
	}
	vals, err := userValues(fsys, req.Dir, p, opts)
	if err != nil {
		return nil, err
	}
	chrt, err := loadChart(ctx, fsys, req.Dir, p, opts)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("chart %s: %w", p.Chart, err)
	}
	files, err := renderTemplates(chrt, vals, rel, caps, opts)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", chrt.Name(), err)
	}
	objs, err := collectObjects(chrt, files, p.includeCRDs(), opts)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", chrt.Name(), err)
	}
	setReleaseNamespace(objs, rel.Namespace)
	return objs, nil
}

func releaseOptions(p properties, req Request) (chartutil.ReleaseOptions, error) {
	name := cmp.Or(p.ReleaseName, req.ReleaseName)
	if err := chartutil.ValidateReleaseName(name); err != nil {
		return chartutil.ReleaseOptions{}, fmt.Errorf("helm release name %q: %w", name, err)
	}
	return chartutil.ReleaseOptions{
		Name:      name,
		Namespace: cmp.Or(p.Namespace, req.Namespace, "default"),
		Revision:  1,
		IsInstall: true,
	}, nil
}

func capabilities(req Request) (*chartutil.Capabilities, error) {
	caps := chartutil.DefaultCapabilities.Copy()
	if req.KubeVersion != "" {
		kv, err := chartutil.ParseKubeVersion(req.KubeVersion)
		if err != nil {
			return nil, fmt.Errorf("kube version %q: %w", req.KubeVersion, err)
		}
		caps.KubeVersion = *kv
	}
	// A fresh slice: Copy shares the backing array with helm's global.
	caps.APIVersions = slices.Concat(caps.APIVersions, chartutil.VersionSet(req.APIVersions))
	return caps, nil
}

// renderTemplates is the offline part of `helm template`: dependencies
// enabled by conditions and tags, the kube version check, values coalesced
// with the chart's defaults and checked against values.schema.json, then the
// templates rendered by an engine without a cluster (lookup returns an empty
// object) and without DNS (getHostByName returns "").
func renderTemplates(chrt *chart.Chart, vals map[string]any, rel chartutil.ReleaseOptions, caps *chartutil.Capabilities, o Options) (map[string]string, error) {
	if err := checkDependencies(chrt); err != nil {
		return nil, err
	}
	if err := chartutil.ProcessDependenciesWithMerge(chrt, vals); err != nil {
		return nil, err
	}
	if kv := chrt.Metadata.KubeVersion; kv != "" && !chartutil.IsCompatibleRange(kv, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("chart requires kubeVersion %s, which is incompatible with Kubernetes %s", kv, caps.KubeVersion.String())
	}
	top, err := chartutil.ToRenderValuesWithSchemaValidation(chrt, vals, rel, caps, false)
	if err != nil {
		return nil, err
	}
	files, err := engine.Engine{EnableDNS: false}.Render(chrt, top)
	if err != nil {
		return nil, err
	}
	var total int64
	for _, s := range files {
		total += int64(len(s))
	}
	if total > o.MaxOutputBytes {
		return nil, fmt.Errorf("rendered output is %d bytes, over the cap of %d", total, o.MaxOutputBytes)
	}
	return files, nil
}

// checkDependencies refuses a chart whose Chart.yaml names dependencies that
// are not vendored in charts/, as `helm template` does without
// --dependency-update.
func checkDependencies(c *chart.Chart) error {
	have := map[string]bool{}
	for _, d := range c.Dependencies() {
		have[d.Name()] = true
	}
	var missing []string
	for _, r := range c.Metadata.Dependencies {
		if r != nil && !have[r.Name] {
			missing = append(missing, r.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("dependencies %s are in Chart.yaml but missing from charts/ (vendor them with helm dependency build)", strings.Join(missing, ", "))
	}
	return nil
}
