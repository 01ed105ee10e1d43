package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/carina-gitops/carina/capabilities"
)

// TestDefsShowDocumentsEveryParameter checks that `carina defs show`
// documents every parameter (nested ones included) of every built-in.
func TestDefsShowDocumentsEveryParameter(t *testing.T) {
	reg, err := capabilities.NewRegistry(t.Context(), capabilities.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range reg.List() {
		params, err := d.Parameters(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		out, err := runCarina(t, "defs", "show", d.Name, "--kind", string(d.Kind), "-o", "markdown")
		if err != nil {
			t.Fatalf("defs show %s: %v", d.Name, err)
		}
		for _, p := range flatten("", params) {
			row := "| `" + p.Path + "` |"
			if !strings.Contains(out, row) || !strings.Contains(out, mdCell(p.Description)+" |") {
				t.Errorf("defs show %s does not document %s", d.Name, p.Path)
			}
		}
	}
}

func TestDefsShowTable(t *testing.T) {
	out, err := runCarina(t, "defs", "show", "webservice")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Workload:", "deployments.apps", "PARAMETER", "ports[].expose", `"ClusterIP"`} {
		if !strings.Contains(out, want) {
			t.Errorf("defs show webservice lacks %q:\n%s", want, out)
		}
	}
	if _, err := runCarina(t, "defs", "show", "nope"); err == nil {
		t.Error("defs show of an unknown name succeeded")
	}
}

func TestDefsList(t *testing.T) {
	out, err := runCarina(t, "defs", "list", "--definitions", filepath.Join("..", "..", "examples", "capabilities"))
	if err != nil {
		t.Fatal(err)
	}
	// Columns are as wide as their longest entry, so match any spacing.
	for _, want := range []string{`component\s+webservice\s`, `trait\s+pdb\s+capability`, `policy\s+topology\s`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("defs list lacks %q:\n%s", want, out)
		}
	}
}

func TestDefsVet(t *testing.T) {
	if out, err := runCarina(t, "defs", "vet", filepath.Join("..", "..", "examples", "capabilities")); err != nil || out != "" {
		t.Errorf("vet of the example module = %q, %v; want clean", out, err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"a.cue": "import \"tool/exec\"\n\na: {type: \"trait\", description: \"x\"}\ntemplate: {patch: {}}\n",
		"b.cue": "b: {type: \"component\", description: \"x\"}\ntemplate: {\n\toutput: {kind: 1, kind: 2}\n}\n",
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := runCarina(t, "defs", "vet", dir)
	if exitCode(err) != 1 {
		t.Fatalf("vet of a bad module: exit code %d (%v), want 1", exitCode(err), err)
	}
	for _, want := range []string{"/a.cue:1:8: import \"tool/exec\" is not allowed", "/b.cue:3:26: template.output.kind: conflicting values 2 and 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("vet output lacks %q:\n%s", want, out)
		}
	}
}
