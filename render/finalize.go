package render

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// clusterScoped are the built-in Kubernetes kinds that are not namespaced,
// keyed by "Kind.group" ("Kind" for the core group).
var clusterScoped = map[string]bool{
	"Namespace": true, "Node": true, "PersistentVolume": true, "ComponentStatus": true,
	"CustomResourceDefinition.apiextensions.k8s.io":                 true,
	"APIService.apiregistration.k8s.io":                             true,
	"ClusterRole.rbac.authorization.k8s.io":                         true,
	"ClusterRoleBinding.rbac.authorization.k8s.io":                  true,
	"StorageClass.storage.k8s.io":                                   true,
	"CSIDriver.storage.k8s.io":                                      true,
	"CSINode.storage.k8s.io":                                        true,
	"VolumeAttachment.storage.k8s.io":                               true,
	"VolumeAttributesClass.storage.k8s.io":                          true,
	"PriorityClass.scheduling.k8s.io":                               true,
	"IngressClass.networking.k8s.io":                                true,
	"IPAddress.networking.k8s.io":                                   true,
	"ServiceCIDR.networking.k8s.io":                                 true,
	"RuntimeClass.node.k8s.io":                                      true,
	"ValidatingWebhookConfiguration.admissionregistration.k8s.io":   true,
	"MutatingWebhookConfiguration.admissionregistration.k8s.io":     true,
	"ValidatingAdmissionPolicy.admissionregistration.k8s.io":        true,
	"ValidatingAdmissionPolicyBinding.admissionregistration.k8s.io": true,
	"MutatingAdmissionPolicy.admissionregistration.k8s.io":          true,
	"MutatingAdmissionPolicyBinding.admissionregistration.k8s.io":   true,
	"CertificateSigningRequest.certificates.k8s.io":                 true,
	"ClusterTrustBundle.certificates.k8s.io":                        true,
	"FlowSchema.flowcontrol.apiserver.k8s.io":                       true,
	"PriorityLevelConfiguration.flowcontrol.apiserver.k8s.io":       true,
	"DeviceClass.resource.k8s.io":                                   true,
	"ResourceSlice.resource.k8s.io":                                 true,
	"StorageVersionMigration.storagemigration.k8s.io":               true,
	"StorageVersion.internal.apiserver.k8s.io":                      true,
	"TokenReview.authentication.k8s.io":                             true,
	"SelfSubjectReview.authentication.k8s.io":                       true,
	"SubjectAccessReview.authorization.k8s.io":                      true,
	"SelfSubjectAccessReview.authorization.k8s.io":                  true,
	"SelfSubjectRulesReview.authorization.k8s.io":                   true,
	"PodSecurityPolicy.policy":                                      true,
}

// kindKey is "Kind.group", or "Kind" for the core group.
func kindKey(gvk schema.GroupVersionKind) string {
	if gvk.Group == "" {
		return gvk.Kind
	}
	return gvk.Kind + "." + gvk.Group
}

// scope decides which kinds are namespaced.
type scope struct{ extra map[string]bool }

func newScope(extra []string) scope {
	s := scope{extra: map[string]bool{}}
	for _, k := range extra {
		s.extra[k] = true
	}
	return s
}

func (s scope) clusterScoped(gvk schema.GroupVersionKind) bool {
	k := kindKey(gvk)
	return clusterScoped[k] || s.extra[k] || (gvk.Group != "" && s.extra[gvk.Kind])
}

// finalize checks an object's identity, sets the ownership labels and the
// namespace: the environment's for namespaced kinds that have none, none
// for cluster-scoped kinds.
func finalize(u *unstructured.Unstructured, app, env, component, namespace string, sc scope) error {
	gvk := u.GroupVersionKind()
	if u.GetAPIVersion() == "" || gvk.Kind == "" {
		return fmt.Errorf("object %q has no apiVersion or kind", u.GetName())
	}
	if u.GetName() == "" {
		return fmt.Errorf("%s has no metadata.name", gvk.Kind)
	}
	if err := checkMetadata(u); err != nil {
		return fmt.Errorf("%s: %w", objectRef(u), err)
	}
	labels := u.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelApp] = app
	labels[LabelEnv] = env
	labels[LabelComponent] = component
	u.SetLabels(labels)
	if sc.clusterScoped(gvk) {
		u.SetNamespace("")
	} else if u.GetNamespace() == "" {
		u.SetNamespace(namespace)
	}
	return nil
}

// checkMetadata refuses metadata that unstructured's accessors would
// silently drop: non-string labels or annotations.
func checkMetadata(u *unstructured.Unstructured) error {
	md, ok := u.Object["metadata"].(map[string]any)
	if !ok {
		return errors.New("metadata is not an object")
	}
	for _, field := range []string{"labels", "annotations"} {
		raw, ok := md[field]
		if !ok || raw == nil {
			continue
		}
		m, ok := raw.(map[string]any)
		if !ok {
			return fmt.Errorf("metadata.%s is not an object", field)
		}
		for k, v := range m {
			if _, ok := v.(string); !ok {
				return fmt.Errorf("metadata.%s[%q] is %v, not a string", field, k, v)
			}
		}
	}
	return nil
}

// objectID identifies an object for duplicate detection.
func objectID(u *unstructured.Unstructured) string {
	gvk := u.GroupVersionKind()
	return strings.Join([]string{gvk.Group, gvk.Kind, u.GetNamespace(), u.GetName()}, "/")
}
