package apply

import (
	"strings"
	"testing"
)

// FuzzParsePath feeds apply-once paths (from application policies) to the
// parser: it must not panic, and a parsed path must have no empty field.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"spec.replicas", "spec.template.spec.containers[0].image", "a[1][2].b", "a.", "[0]", "a[x]", "a[1]b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		steps, err := parsePath(p)
		if err != nil {
			return
		}
		for _, s := range steps {
			if s.index < 0 && s.key == "" {
				t.Fatalf("parsePath(%q) has an empty field", p)
			}
		}
		if len(steps) < strings.Count(p, ".")+1 {
			t.Fatalf("parsePath(%q) = %d steps", p, len(steps))
		}
	})
}
