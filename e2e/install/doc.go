// Package install tests what deploy/ installs. Always: the kustomize base
// and overlays build, the Helm chart lints and renders through the Helm
// SDK, its values.schema.json rejects wrong values, the chart and the
// overlays hold the same objects with the secure pod defaults, the
// generated monitoring copies are fresh, and (not in -short mode) the
// image `make image` writes is read back with go-containerregistry, its
// binary run, and, where runc is installed, the image run in a container.
//
// With -tags installe2e, tests against the local control plane: a
// server-side dry run of every manifest, the built agent acting as the
// ServiceAccount deploy/ creates (deploy, drift, prune, a refused kind,
// the audit log), and tenant impersonation refusing a ClusterRoleBinding
// and a foreign namespace. They are behind the tag until they have run
// green against a control plane (the binaries were not built when they
// were written).
package install
