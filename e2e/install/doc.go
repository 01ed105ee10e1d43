// Package install tests what deploy/ installs: the kustomize base and its
// overlays and the Helm chart against a real API server (server-side
// dry-run), the RBAC profiles by running the built agent under the
// identity they grant, tenant impersonation, and the OCI image that
// `make image` writes. It has no code of its own, only tests; the tests
// that need a control plane skip in -short mode.
package install
