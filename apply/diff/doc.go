// Package diff compares a live object with the server's dry-run result of
// applying the desired one, and prints the fields that would change as a
// unified diff of YAML or as JSON. Server-owned noise (status,
// managedFields, resourceVersion, generation, uid, creationTimestamp) is
// ignored, lists of named items are compared item by item, and Secret
// values (and kubectl's last-applied copy of them) are masked.
//
// It is pure; apply.Manager.Diff fetches the objects.
package diff
