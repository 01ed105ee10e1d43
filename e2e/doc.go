// Package e2e holds Carina's end-to-end tests. They run against the real
// local control plane from e2e/cluster.
package e2e
