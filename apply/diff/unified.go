package diff

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"
)

// contextLines is the number of unchanged lines around each change.
const contextLines = 3

// maxCells bounds the line-diff table; larger inputs are shown as a whole
// removal followed by a whole addition.
const maxCells = 16 << 20

// WriteUnified writes a unified diff of the changed objects' fields as
// YAML, one file header pair per object (live/<ref>, desired/<ref>).
func WriteUnified(w io.Writer, objs []Object) error {
	for _, o := range objs {
		if !o.Changed() {
			continue
		}
		text, err := Unified(o)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(w, text); err != nil {
			return err
		}
	}
	return nil
}

// Unified returns the unified diff of one object.
func Unified(o Object) (string, error) {
	a, err := yamlLines(o.Before)
	if err != nil {
		return "", fmt.Errorf("%s: %w", o.Ref, err)
	}
	b, err := yamlLines(o.After)
	if err != nil {
		return "", fmt.Errorf("%s: %w", o.Ref, err)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- live/%s\n+++ desired/%s\n", o.Ref, o.Ref)
	writeHunks(&sb, a, b, lineDiff(a, b))
	return sb.String(), nil
}

// WriteJSON writes the changed objects with their changes as a JSON array.
func WriteJSON(w io.Writer, objs []Object) error {
	changed := []Object{}
	for _, o := range objs {
		if o.Changed() {
			changed = append(changed, o)
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(changed)
}

func yamlLines(m map[string]any) ([]string, error) {
	if m == nil {
		return nil, nil
	}
	b, err := yaml.Marshal(m)
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"), nil
}

// op is one line of an edit script: ' ' kept, '-' removed, '+' added.
type op struct {
	kind byte
	a, b int // line indexes in a and b (the one that applies)
}

// lineDiff returns an edit script from a to b by longest common
// subsequence.
func lineDiff(a, b []string) []op {
	n, m := len(a), len(b)
	if n*m > maxCells {
		var ops []op
		for i := range a {
			ops = append(ops, op{'-', i, 0})
		}
		for j := range b {
			ops = append(ops, op{'+', n, j})
		}
		return ops
	}
	// lcs[i][j] is the LCS length of a[i:] and b[j:].
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []op
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			ops = append(ops, op{' ', i, j})
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, op{'-', i, j})
			i++
		default:
			ops = append(ops, op{'+', i, j})
			j++
		}
	}
	return ops
}

// writeHunks prints the edit script as hunks with context.
func writeHunks(sb *strings.Builder, a, b []string, ops []op) {
	for start := 0; start < len(ops); {
		if ops[start].kind == ' ' {
			start++
			continue
		}
		lo := max(0, start-contextLines)
		hi, kept := start, 0
		for hi < len(ops) && kept <= 2*contextLines {
			if ops[hi].kind == ' ' {
				kept++
			} else {
				kept = 0
			}
			hi++
		}
		hi = min(len(ops), hi-max(0, kept-contextLines))
		writeHunk(sb, a, b, ops[lo:hi])
		start = hi
	}
}

func writeHunk(sb *strings.Builder, a, b []string, ops []op) {
	aStart, bStart, aLen, bLen := ops[0].a, ops[0].b, 0, 0
	var body strings.Builder
	for _, o := range ops {
		switch o.kind {
		case ' ':
			aLen++
			bLen++
			body.WriteString(" " + a[o.a] + "\n")
		case '-':
			aLen++
			body.WriteString("-" + a[o.a] + "\n")
		case '+':
			bLen++
			body.WriteString("+" + b[o.b] + "\n")
		}
	}
	fmt.Fprintf(sb, "@@ -%s +%s @@\n%s", hunkRange(aStart, aLen), hunkRange(bStart, bLen), body.String())
}

// hunkRange prints start,len in unified-diff form (1-based; an empty
// range names the line before it).
func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}
