// Package registry runs a real OCI registry on loopback for tests: the
// Distribution registry (github.com/distribution/distribution/v3, the
// code most registries are built on) in process, over TLS with a test CA
// and htpasswd basic auth, optionally posting its notifications to a
// webhook. It also pushes artifacts the way `flux push artifact` does
// (with oras-go), signs them the way `cosign sign --key` does (the
// ".sig" tag with a simple-signing payload), and serves a Helm chart
// repository over HTTPS with basic auth.
//
// It is for tests and benchmarks only and must never be imported by
// product code.
//
//	ca := registry.NewCA(t)
//	reg := registry.Start(t, registry.Options{CA: ca, Username: "u", Password: "p"})
//	dgst := reg.PushFlux(t, "apps/shop", "v1", map[string]string{"app.yaml": "..."})
//	url := "oci://" + reg.Host + "/apps/shop"
package registry
