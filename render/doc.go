// Package render turns an Application, one of its environments, the
// capability registry and a repository file tree into a deterministic, sorted
// list of Kubernetes objects. It is pure: no cluster access and no network
// except chart downloads the application names explicitly.
package render
