package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/carina-gitops/carina/e2e/cluster"
)

// testCluster is shared by the tests of this package; each test uses its
// own namespace.
var testCluster *cluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() { // make test-unit: no control plane
		return m.Run()
	}
	opts := cluster.DefaultOptions()
	opts.Name = "e2e"
	opts.Build.Log = os.Stderr
	c, err := cluster.Start(context.Background(), opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: cannot start the local control plane:", err)
		return 1
	}
	defer c.Stop()
	fmt.Fprintf(os.Stderr, "e2e: control plane ready in %s\n", c.StartupDuration())
	testCluster = c
	return m.Run()
}
