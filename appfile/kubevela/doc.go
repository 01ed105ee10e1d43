// Package kubevela turns KubeVela Application objects read from a cluster
// into Application files Carina reads: the same apiVersion, kind and spec,
// without status and without the labels, annotations and metadata that
// KubeVela and the API server add.
//
//	apps, err := kubevela.ReadApplications(ctx, dyn, "")
//	for _, a := range apps {
//		os.WriteFile(filepath.Join(dir, a.Path), a.Data, 0o644)
//	}
package kubevela
