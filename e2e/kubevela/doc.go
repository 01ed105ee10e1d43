// Package kubevela holds Carina's KubeVela compatibility corpus: KubeVela
// Applications (testdata/apps), the objects KubeVela's own `vela dry-run
// --offline` renders for them (testdata/vela, committed as golden data), and
// the tests that render the same Applications with Carina and compare,
// once with KubeVela's definitions and once with Carina's built-ins.
// testdata/README.md says how the golden output was made.
package kubevela
