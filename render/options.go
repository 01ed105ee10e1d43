package render

import (
	"time"

	"github.com/carina-gitops/carina/render/cue"
)

// PullRequest is what CUE definitions see as context.pullRequest when a
// preview environment renders: number, branch, base, headSHA, author and
// labels.
type PullRequest = cue.PullRequest

// DefaultKubeVersion is the Kubernetes version templates see as
// context.clusterVersion when none is given: the minor of the client-go
// Carina is built with (a test checks it against go.mod).
const DefaultKubeVersion = "1.36"

// Options bound and parameterise one Render.
type Options struct {
	// Timeout bounds the wall time of one Render on top of ctx's deadline.
	// Zero leaves only ctx's deadline.
	Timeout time.Duration
	// MaxObjects is the most objects one environment may render to.
	MaxObjects int
	// MaxOutputBytes caps the canonical JSON size of all objects.
	MaxOutputBytes int64
	// ClusterScopedKinds adds kinds, as "Kind" or "Kind.group", that are
	// not namespaced beyond the built-in list (for CRDs of the cluster).
	ClusterScopedKinds []string
	// Cluster is the cluster being rendered for (context.cluster). Empty
	// means the environment's first cluster, or "local".
	Cluster string
	// RevisionNum is the application revision number
	// (context.appRevisionNum); 0 means 1.
	RevisionNum int64
	// PublishVersion is context.publishVersion; empty means the
	// application's app.oam.dev/publishVersion annotation.
	PublishVersion string
	// KubeVersion is the target cluster's Kubernetes version
	// (context.clusterVersion), "1.X" or "v1.X.Y", as the cluster's /version
	// reports it. Empty means DefaultKubeVersion.
	KubeVersion string
	// KubePlatform is context.clusterVersion.platform, as the cluster's
	// /version reports it ("linux/arm64"). Empty means "linux/amd64".
	KubePlatform string
	// Strict turns warnings (a trait outside its appliesToWorkloads, two
	// traits that conflictsWith names) into errors.
	Strict bool
	// Manifests bound the manifests engine.
	Manifests ManifestOptions
	// Engines configure the Helm and Kustomize engines.
	Engines EngineOptions
	// PullRequest is the pull request a preview environment deploys
	// (context.pullRequest in CUE definitions). Nil, for every other
	// environment, leaves context.pullRequest out.
	PullRequest *PullRequest
	// Decryption, when set, makes Isolated decrypt SOPS values in the
	// worker after rendering (see Decrypt). Nil leaves them encrypted.
	Decryption *Decryption
}

// ManifestOptions bound what the manifests engine reads.
type ManifestOptions struct {
	// MaxFiles is the most files one manifests component may read.
	MaxFiles int
	// MaxFileBytes is the largest file.
	MaxFileBytes int64
	// MaxTotalBytes caps the sum of the files' sizes.
	MaxTotalBytes int64
	// MaxNodes caps the YAML nodes of one file after alias expansion, so
	// that a small alias bomb is refused before it is expanded.
	MaxNodes int
}

// DefaultOptions allow two minutes, 10,000 objects and 64 MiB of output;
// manifests components may read 1,000 files of up to 8 MiB, 64 MiB in all.
func DefaultOptions() Options {
	return Options{
		Timeout:        2 * time.Minute,
		MaxObjects:     10000,
		MaxOutputBytes: 64 << 20,
		Manifests: ManifestOptions{
			MaxFiles:      1000,
			MaxFileBytes:  8 << 20,
			MaxTotalBytes: 64 << 20,
			MaxNodes:      1 << 20,
		},
		Engines: DefaultEngineOptions(),
	}
}
