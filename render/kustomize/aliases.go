package kustomize

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	yaml "go.yaml.in/yaml/v3"
)

// maxAliasExpansion caps the nodes one YAML file may expand to once its
// aliases are resolved. kustomize expands aliases without a cap, so a 1 KiB
// alias bomb would take it minutes and gigabytes; every file is checked
// before the build.
const maxAliasExpansion = 1_000_000

// checkAliases refuses a YAML file whose aliases expand past
// maxAliasExpansion nodes. Files without both an anchor and an alias
// character are not parsed. A file that is not YAML is left to kustomize.
func checkAliases(name string, data []byte) error {
	if !bytes.ContainsRune(data, '&') || !bytes.ContainsRune(data, '*') {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var total int64
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil // not YAML, or broken YAML: kustomize reports it
		}
		total += expandedSize(&doc, map[*yaml.Node]int64{})
		if total > maxAliasExpansion {
			return fmt.Errorf("%s: YAML aliases expand to more than %d nodes", name, maxAliasExpansion)
		}
	}
}

// expandedSize counts the nodes under n with every alias replaced by what
// it points to. memo makes it linear in the file's size; the count
// saturates just past the cap.
func expandedSize(n *yaml.Node, memo map[*yaml.Node]int64) int64 {
	if n == nil {
		return 0
	}
	if s, ok := memo[n]; ok {
		return s
	}
	memo[n] = maxAliasExpansion + 1 // a node that contains itself expands forever
	var s int64 = 1
	if n.Kind == yaml.AliasNode {
		s = expandedSize(n.Alias, memo)
	}
	for _, c := range n.Content {
		s += expandedSize(c, memo)
		if s > maxAliasExpansion {
			s = maxAliasExpansion + 1
			break
		}
	}
	memo[n] = s
	return s
}
