package kustomize

import (
	"strings"
	"testing"
)

// FuzzSubstitute: substitution never panics, and text without "${" comes
// back unchanged.
func FuzzSubstitute(f *testing.F) {
	f.Add("a: ${A} b: ${B:=x} c: $${C} d: ${D:-y} e: ${1}")
	f.Add("${")
	f.Add("$$${A}}")
	vars := map[string]string{"A": "1", "B": ""}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := substitute([]byte(in), vars, false)
		if err != nil {
			return
		}
		if !strings.Contains(in, "${") && string(out) != in {
			t.Fatalf("substitute changed %q into %q", in, out)
		}
	})
}

// FuzzCheckAliases: the alias check never panics and terminates quickly on
// any input, alias bombs included.
func FuzzCheckAliases(f *testing.F) {
	f.Add([]byte(aliasBomb))
	f.Add([]byte("a: &a {b: *a}\n"))
	f.Add([]byte("x: &x 1\ny: [*x, *x]\n---\nz: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = checkAliases("fuzz.yaml", data)
	})
}

// FuzzCheckKustomization: any kustomization either is refused or names
// only local, confined directories.
func FuzzCheckKustomization(f *testing.F) {
	f.Add([]byte("resources:\n- ../base\n- https://example.com/x.yaml\npatches:\n- path: p.yaml\n"))
	f.Add([]byte("helmCharts: [{name: x}]\n"))
	f.Add([]byte("generators:\n- |\n  kind: X\n  metadata: {annotations: {config.kubernetes.io/function: x}}\n"))
	fsys := kfs("app/k/kustomization.yaml", "resources: []\n", "app/base/kustomization.yaml", "resources: []\n", "app/k/p.yaml", "")
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := newTree(fsys, DefaultOptions())
		if err := tr.copyDir("app/k"); err != nil {
			t.Fatal(err)
		}
		refs, err := tr.checkKustomization("app/k", "app/k/kustomization.yaml", data, false)
		if err != nil {
			return
		}
		for _, r := range refs {
			if strings.HasPrefix(r.dir, "..") || strings.HasPrefix(r.dir, "/") || isRemote(r.dir) {
				t.Fatalf("followed %q", r.dir)
			}
		}
	})
}
