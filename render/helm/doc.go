// Package helm renders the `helm` component type: it loads a chart from the
// application's repository, an HTTP(S) chart repository or an OCI registry,
// merges values, and renders the chart offline with Helm's SDK into
// unstructured objects. It never runs the helm CLI.
//
// The rendering is `helm template` without a cluster: the template function
// lookup returns an empty object, getHostByName returns an empty string (DNS
// is off), the capabilities come from the Request, and NOTES.txt is dropped.
// Every input is bounded: chart files, archives, repository indexes, values
// files and the rendered output each have a size cap in Options. Paths in the
// properties resolve against the application's directory and never leave the
// repository root. Chart downloads connect only where Options.Egress
// allows (never to link-local or cloud metadata addresses), checked at
// dial time, redirects included.
//
// Usage:
//
//	objs, err := helm.Render(ctx, snapshotFS, helm.Request{
//		Dir:         "apps/shop",
//		Properties:  map[string]any{"chart": "charts/web", "valuesFiles": []any{"values-prod.yaml"}},
//		ReleaseName: "web",
//		Namespace:   "shop",
//	}, helm.DefaultOptions())
package helm
