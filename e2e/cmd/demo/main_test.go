package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoRuns runs `make demo`'s program to completion against a real
// local control plane, so the quick start keeps working.
func TestDemoRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	var out bytes.Buffer
	err := run(t.Context(), filepath.Join("..", "..", "..", "examples", "demo", "deployment.yaml"), true, &out)
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Deployment/hello configured", "Service/hello configured", "deployment/hello is Available", "3/3 ready"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}
