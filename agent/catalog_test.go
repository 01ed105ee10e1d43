package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/capabilities"
	"github.com/carina-gitops/carina/source"
)

// TestLoadIsolatesABadSymlink: a symbolic link out of the repository,
// as one app's file, leaves out only that app; the other apps of the
// monorepo load (bug: the whole source failed with "path escapes the
// repository root").
func TestLoadIsolatesABadSymlink(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"good", "evil", "other"} {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "good", "Appfile"), []byte(simpleAppfile("good", "ns", "hi")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "evil", "Appfile")); err != nil {
		t.Fatal(err)
	}
	// A data file of another app that escapes too: only that app's
	// inputs see it.
	if err := os.WriteFile(filepath.Join(dir, "other", "Appfile"), []byte(simpleAppfile("other", "ns", "hi")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/hostname", filepath.Join(dir, "other", "data.txt")); err != nil {
		t.Fatal(err)
	}
	snap := &source.Snapshot{Dir: dir, Ref: "refs/heads/main", Commit: strings.Repeat("a", 40)}
	reg, err := capabilities.NewRegistry(t.Context(), capabilities.Options{Builtin: true})
	if err != nil {
		t.Fatal(err)
	}
	l, err := loadApps(t.Context(), config.Source{Name: "apps"}, snap, reg, 1000, "local")
	if err != nil {
		t.Fatalf("the whole source failed: %v", err)
	}
	var names []string
	for _, d := range l.apps {
		names = append(names, d.Name)
	}
	if strings.Join(names, ",") != "good,other" {
		t.Errorf("loaded apps %v, want good and other", names)
	}
	if !l.broken["evil/Appfile"] || len(l.broken) != 1 {
		t.Errorf("broken files %v, want evil/Appfile only", l.broken)
	}
	if len(l.errs) == 0 || !strings.Contains(l.errs.Error(), "evil/Appfile") {
		t.Errorf("errors %v do not name evil/Appfile", l.errs)
	}
}
