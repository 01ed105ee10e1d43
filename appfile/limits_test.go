package appfile

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// billionLaughs is the classic alias bomb: nine levels of nine aliases,
// 387,420,489 strings once expanded, in well under 1 KB. It is placed
// where an application would carry component properties.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString(app("  components:\n    - name: web\n      type: webservice\n      properties:\n"))
	b.WriteString(`        l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]` + "\n")
	for i := 1; i < 9; i++ {
		ref := fmt.Sprintf("*l%d", i-1)
		fmt.Fprintf(&b, "        l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(ref+",", 9), ","))
	}
	return b.String()
}

func TestParseLimits(t *testing.T) {
	bomb := billionLaughs()
	if len(bomb) > 1024 {
		t.Fatalf("the alias bomb is %d bytes, want at most 1 KB", len(bomb))
	}
	small := ParseOptions{MaxFileBytes: 64, MaxDocuments: 2, MaxDepth: 8, MaxNodes: 100}
	tests := []struct {
		name string
		data string
		opts ParseOptions
		want []string
	}{{
		name: "1 KB alias bomb",
		data: bomb,
		opts: DefaultParseOptions(),
		want: []string{`a.yaml:15:13: document expands to more than 262144 YAML nodes (aliases counted as copies); refusing to expand it`},
	}, {
		name: "file over the size limit",
		data: "name: shop\nservices: {}\n" + strings.Repeat("# padding\n", 10),
		opts: small,
		want: []string{`a.yaml: file is 124 bytes, over the limit of 64`},
	}, {
		name: "default size limit",
		data: "name: shop\nservices: {}\n#" + strings.Repeat("x", 1<<20),
		opts: ParseOptions{},
		want: []string{`a.yaml: file is 1048601 bytes, over the limit of 1048576`},
	}, {
		name: "too deep",
		data: "a: " + strings.Repeat("[", 10) + strings.Repeat("]", 10),
		opts: small,
		want: []string{`a.yaml:1:11: document nests deeper than 8 levels`},
	}, {
		name: "too deep through an alias",
		data: "a: &x [[[[1]]]]\nb: [[[*x]]]\n",
		opts: small,
		want: []string{`a.yaml:2:7: document nests deeper than 8 levels (aliases followed)`},
	}, {
		name: "deeper than the YAML parser allows",
		data: "a: " + strings.Repeat("[", 20000),
		opts: DefaultParseOptions(),
		want: []string{`a.yaml: invalid YAML: exceeded max depth of 10000`},
	}, {
		name: "recursive alias",
		data: "a: &a [1, *a]\n",
		opts: DefaultParseOptions(),
		want: []string{`a.yaml:1:11: alias refers to a node that contains it (recursive alias)`},
	}, {
		name: "too many documents",
		data: "a: 1\n---\nb: 2\n---\nc: 3\n",
		opts: small,
		want: []string{`a.yaml:4: file has more than 2 YAML documents`},
	}, {
		name: "applications of one file over the node budget together",
		data: "name: a\nservices: {w: {type: worker, x: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60]}}\n---\nname: b\nservices: {w: {type: worker, x: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60]}}\n",
		opts: ParseOptions{MaxNodes: 100},
		want: []string{`a.yaml:4:1: the applications of this file expand to more than 100 YAML nodes`},
	}, {
		name: "unknown anchor",
		data: "a: *nope\n",
		opts: DefaultParseOptions(),
		want: []string{`a.yaml: invalid YAML: unknown anchor 'nope' referenced`},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app, err := ParseWithOptions("a.yaml", []byte(tc.data), tc.opts)
			if app != nil {
				t.Error("got an application despite the error")
			}
			if diff := cmp.Diff(tc.want, errorLines(t, err)); diff != "" {
				t.Errorf("errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAliasesWithinBudget checks that ordinary anchors still work when
// the expanded document fits the node budget.
func TestAliasesWithinBudget(t *testing.T) {
	data := app(`  components:
    - name: a
      type: webservice
      properties: &p {image: x, env: &e [{name: A, value: "1"}]}
    - name: b
      type: webservice
      properties: {<<: *p, image: y, extra: *e}
`)
	got, err := ParseWithOptions("a.yaml", []byte(data), ParseOptions{MaxNodes: 80})
	if err != nil {
		t.Fatal(err)
	}
	env := []any{map[string]any{"name": "A", "value": "1"}}
	want := map[string]any{"image": "y", "env": env, "extra": env}
	if diff := cmp.Diff(want, got.Components[1].Properties); diff != "" {
		t.Errorf("properties of b (-want +got):\n%s", diff)
	}
	if _, err := ParseWithOptions("a.yaml", []byte(data), ParseOptions{MaxNodes: 40}); err == nil {
		t.Error("a budget of 40 nodes accepted the document")
	}
}

// BenchmarkAliasBomb measures how long rejecting the 1 KB alias bomb takes.
func BenchmarkAliasBomb(b *testing.B) {
	data := []byte(billionLaughs())
	for b.Loop() {
		if _, err := Parse("a.yaml", data); err == nil {
			b.Fatal("alias bomb accepted")
		}
	}
}

// TestOtherDocumentsAreNotLimited checks that a Kubernetes object next to
// an application is skipped without being measured against the budget:
// it is never expanded.
func TestOtherDocumentsAreNotLimited(t *testing.T) {
	bomb := strings.Replace(billionLaughs(), "kind: Application", "kind: ConfigMap", 1)
	bomb = strings.Replace(bomb, "core.oam.dev/v1beta1", "v1", 1)
	data := bomb + "---\n" + app("  components: [{name: web, type: webservice}]\n")
	apps, err := ParseAll("a.yaml", []byte(data), DefaultParseOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 1 || apps[0].Name != "shop" {
		t.Errorf("got %d applications, want the shop app only", len(apps))
	}
}
