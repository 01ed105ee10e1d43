// Package source turns a Git repository reference into an immutable Snapshot
// (commit, ref, and a read-only file tree confined to the repository root),
// polls references for changes, and receives forge webhooks that wake the
// matching pollers. It never carries desired state from a webhook payload.
package source
