package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCarinaCommandWorks: the `carina status` command the demo prints
// names a binary that exists, or builds one (bug: it named bin/carina,
// which the demo never built).
func TestCarinaCommandWorks(t *testing.T) {
	root := t.TempDir()
	if got := carinaCommand(root); got != "go run ./cmd/carina" {
		t.Errorf("without bin/carina: %q, want go run ./cmd/carina", got)
	}
	bin := filepath.Join(root, "bin", "carina")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := carinaCommand(root); got != bin {
		t.Errorf("with bin/carina: %q, want %q", got, bin)
	}
	// make demo builds bin/carina first.
	mk, err := os.ReadFile(filepath.Join("..", "..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(mk), "\n") {
		if target, deps, ok := strings.Cut(line, ":"); ok && target == "demo" {
			if !strings.Contains(" "+deps+" ", " build ") {
				t.Errorf("make demo does not build bin/carina: %q", line)
			}
			return
		}
	}
	t.Error("the Makefile has no demo target")
}
