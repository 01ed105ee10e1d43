package render

import (
	"sort"
)

// applyOrder ranks kinds for applying: what others depend on first (CRDs,
// namespaces, cluster RBAC, quotas, identities, configuration, storage),
// then services and workloads, then what routes to or scales them, and
// admission webhooks last so they cannot block the rest. Kinds not listed
// (custom resources) come after the listed ones, before the webhooks.
var applyOrder = func() map[string]int {
	m := make(map[string]int, len(applyOrderKinds))
	for i, k := range applyOrderKinds {
		m[k] = i
	}
	return m
}()

var applyOrderKinds = []string{
	"CustomResourceDefinition.apiextensions.k8s.io",
	"Namespace",
	"PriorityClass.scheduling.k8s.io",
	"RuntimeClass.node.k8s.io",
	"StorageClass.storage.k8s.io",
	"IngressClass.networking.k8s.io",
	"ClusterRole.rbac.authorization.k8s.io",
	"ClusterRoleBinding.rbac.authorization.k8s.io",
	"ResourceQuota",
	"LimitRange",
	"NetworkPolicy.networking.k8s.io",
	"PodDisruptionBudget.policy",
	"ServiceAccount",
	"Role.rbac.authorization.k8s.io",
	"RoleBinding.rbac.authorization.k8s.io",
	"Secret",
	"ConfigMap",
	"PersistentVolume",
	"PersistentVolumeClaim",
	"Service",
	"Endpoints",
	"EndpointSlice.discovery.k8s.io",
	"DaemonSet.apps",
	"Pod",
	"ReplicationController",
	"ReplicaSet.apps",
	"Deployment.apps",
	"StatefulSet.apps",
	"Job.batch",
	"CronJob.batch",
	"HorizontalPodAutoscaler.autoscaling",
	"Ingress.networking.k8s.io",
	"APIService.apiregistration.k8s.io",
}

// webhookKinds go last.
var webhookKinds = map[string]bool{
	"ValidatingWebhookConfiguration.admissionregistration.k8s.io":   true,
	"MutatingWebhookConfiguration.admissionregistration.k8s.io":     true,
	"ValidatingAdmissionPolicy.admissionregistration.k8s.io":        true,
	"ValidatingAdmissionPolicyBinding.admissionregistration.k8s.io": true,
	"MutatingAdmissionPolicy.admissionregistration.k8s.io":          true,
	"MutatingAdmissionPolicyBinding.admissionregistration.k8s.io":   true,
}

func kindRank(key string) int {
	if r, ok := applyOrder[key]; ok {
		return r
	}
	if webhookKinds[key] {
		return len(applyOrderKinds) + 1
	}
	return len(applyOrderKinds)
}

// sortObjects orders objects for apply: by kind rank, then group and kind,
// namespace and name. The order is total for objects with distinct IDs, so
// the result does not depend on the order components rendered in.
func sortObjects(objs []Object) {
	type key struct {
		rank                  int
		group, kind, ns, name string
	}
	keys := make([]key, len(objs))
	for i, o := range objs {
		gvk := o.Object.GroupVersionKind()
		keys[i] = key{kindRank(kindKey(gvk)), gvk.Group, gvk.Kind, o.Object.GetNamespace(), o.Object.GetName()}
	}
	idx := make([]int, len(objs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		x, y := keys[idx[a]], keys[idx[b]]
		switch {
		case x.rank != y.rank:
			return x.rank < y.rank
		case x.group != y.group:
			return x.group < y.group
		case x.kind != y.kind:
			return x.kind < y.kind
		case x.ns != y.ns:
			return x.ns < y.ns
		default:
			return x.name < y.name
		}
	})
	sorted := make([]Object, len(objs))
	for i, j := range idx {
		sorted[i] = objs[j]
	}
	copy(objs, sorted)
}
