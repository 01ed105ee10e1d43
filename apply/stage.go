package apply

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Stage names.
const (
	StageDefinitions = "definitions" // CRDs, Namespaces, cluster RBAC
	StageResources   = "resources"   // everything else, in waves
	StagePrune       = "prune"
)

// A stage is dry-run as a whole before any of it is written; its waves
// are written one after the other.
type stage struct {
	name  string
	waves [][]*item
}

func (s stage) items() []*item {
	var out []*item
	for _, w := range s.waves {
		out = append(out, w...)
	}
	return out
}

// definitionKinds go first: what other objects need to exist or be
// allowed.
var definitionKinds = map[schema.GroupKind]bool{
	crdGK:               true,
	{Kind: "Namespace"}: true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:        true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}: true,
}

// workloadKinds run pods, so they go after the configuration they read.
var workloadKinds = map[schema.GroupKind]bool{
	{Group: "apps", Kind: "Deployment"}:  true,
	{Group: "apps", Kind: "StatefulSet"}: true,
	{Group: "apps", Kind: "DaemonSet"}:   true,
	{Group: "apps", Kind: "ReplicaSet"}:  true,
	{Group: "batch", Kind: "Job"}:        true,
	{Group: "batch", Kind: "CronJob"}:    true,
	{Kind: "Pod"}:                        true,
	{Kind: "ReplicationController"}:      true,
}

// lateKinds intercept or serve requests for others, so they go last: a
// webhook whose service is not running yet would block everything after.
var lateKinds = map[schema.GroupKind]bool{
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}: true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:   true,
	{Group: "apiregistration.k8s.io", Kind: "APIService"}:                           true,
}

// planStages orders items: definitions; then configuration, workloads and
// late kinds as waves of one stage. Empty stages and waves are left out.
func planStages(items []*item) []stage {
	var defs, config, workloads, late []*item
	for _, it := range items {
		gk := it.id.GroupKind()
		switch {
		case definitionKinds[gk]:
			defs = append(defs, it)
		case workloadKinds[gk]:
			workloads = append(workloads, it)
		case lateKinds[gk]:
			late = append(late, it)
		default:
			config = append(config, it)
		}
	}
	var stages []stage
	if len(defs) > 0 {
		stages = append(stages, stage{name: StageDefinitions, waves: [][]*item{defs}})
	}
	var waves [][]*item
	for _, w := range [][]*item{config, workloads, late} {
		if len(w) > 0 {
			waves = append(waves, w)
		}
	}
	if len(waves) > 0 {
		stages = append(stages, stage{name: StageResources, waves: waves})
	}
	return stages
}
