package kubevela

import "testing"

// TestCorpusBuiltins renders every corpus Application with Carina's
// built-in definitions instead of KubeVela's, and compares each
// environment's objects with what vela dry-run --offline rendered with
// KubeVela's own definitions (testdata/vela): the built-ins render what
// KubeVela's internal definitions render.
func TestCorpusBuiltins(t *testing.T) {
	runCorpus(t, corpusRun{
		reg:         corpusRegistry(t, true),
		kubeVersion: "1.18",
		known:       builtinKnown,
	})
}

// builtinKnown are the apps where Carina's built-ins deliberately render
// something else than KubeVela's internal definitions, and why.
var builtinKnown = map[string]string{}
