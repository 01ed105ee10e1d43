// Package cluster runs real, local Kubernetes control planes for tests and
// demos: etcd, kube-apiserver (TLS, RBAC, audit log), kube-controller-manager,
// kube-scheduler and kwok with fake nodes, all on loopback on free ports.
//
// The binaries are built once per version from the Go module proxy through
// the small modules in e2e/k8sbin and cached outside the repository (see
// EnsureBinaries). Every process of a cluster runs in one process group with
// a parent-death signal, and a watchdog removes the group and the cluster's
// temporary directory when the owning process dies, however it dies.
//
// Typical use in a test package:
//
//	func TestMain(m *testing.M) {
//		c, err := cluster.Start(context.Background(), cluster.DefaultOptions())
//		...
//		code := m.Run()
//		c.Stop()
//		os.Exit(code)
//	}
package cluster
