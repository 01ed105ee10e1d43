// Package install tests what deploy/ installs: the kustomize base and
// overlays build, the Helm chart lints and renders through the Helm SDK,
// its values.schema.json rejects wrong values, the chart and the overlays
// hold the same objects with the secure pod defaults, and the generated
// monitoring copies are fresh. Against the local control plane (not in
// -short mode): a server-side dry run of every manifest, the built agent
// acting as the ServiceAccount deploy/ creates (deploy, drift, prune, a
// refused kind, the audit log), and tenant impersonation refusing a
// ClusterRoleBinding and a foreign namespace. And the image `make image`
// writes: read back with go-containerregistry, its binary run, and, where
// runc is installed, the image run in a container. It has no code of its
// own, only tests.
package install
