package inventory

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ID identifies one object in a cluster independent of its API version.
type ID struct {
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// IDOf returns the ID of an object.
func IDOf(u *unstructured.Unstructured) ID {
	gvk := u.GroupVersionKind()
	return ID{Group: gvk.Group, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}
}

// GroupKind returns the ID's group and kind.
func (id ID) GroupKind() schema.GroupKind { return schema.GroupKind{Group: id.Group, Kind: id.Kind} }

// String prints the ID as kubectl users read it: Kind/namespace/name, or
// Kind/name for cluster-scoped objects. Kinds of non-core groups carry
// their group (Kind.group) so that two kinds of the same name differ.
func (id ID) String() string {
	k := id.Kind
	if id.Group != "" && !wellKnownGroups[id.Group] {
		k += "." + id.Group
	}
	if id.Namespace == "" {
		return k + "/" + id.Name
	}
	return k + "/" + id.Namespace + "/" + id.Name
}

// wellKnownGroups are built-in groups whose kinds are unambiguous, so that
// references stay short (Deployment/shop/web, not Deployment.apps/shop/web).
var wellKnownGroups = map[string]bool{
	"apps": true, "batch": true, "rbac.authorization.k8s.io": true, "networking.k8s.io": true,
	"policy": true, "autoscaling": true, "apiextensions.k8s.io": true, "storage.k8s.io": true,
	"scheduling.k8s.io": true, "admissionregistration.k8s.io": true, "coordination.k8s.io": true,
	"discovery.k8s.io": true, "certificates.k8s.io": true, "node.k8s.io": true,
}

// Key is the compact form stored in the inventory:
// group_Kind_namespace_name, with an empty group or namespace left empty
// (_ConfigMap_shop_web, apps_Deployment_shop_web, _Namespace__shop).
// Groups, kinds and namespaces never contain "_", so the first three
// underscores separate the fields and a name may contain more. Bytes a
// line cannot hold (space, controls, %) are %-escaped; "%" cannot occur in
// a Kubernetes name, so the escaping is unambiguous.
func (id ID) Key() string {
	return id.Group + "_" + id.Kind + "_" + id.Namespace + "_" + escapeName(id.Name)
}

// ParseKey parses the form Key prints.
func ParseKey(s string) (ID, error) {
	parts := strings.SplitN(s, "_", 4)
	if len(parts) != 4 {
		return ID{}, fmt.Errorf("inventory entry %q: want group_Kind_namespace_name", s)
	}
	name, err := unescapeName(parts[3])
	if err != nil {
		return ID{}, fmt.Errorf("inventory entry %q: %w", s, err)
	}
	id := ID{Group: parts[0], Kind: parts[1], Namespace: parts[2], Name: name}
	if id.Kind == "" || id.Name == "" {
		return ID{}, fmt.Errorf("inventory entry %q: kind and name must not be empty", s)
	}
	return id, nil
}

func needsEscape(c byte) bool { return c <= ' ' || c == '%' || c == 0x7f }

func escapeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; needsEscape(c) {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func unescapeName(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("truncated escape in name")
		}
		c, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("bad escape %q in name", s[i:i+3])
		}
		b.WriteByte(byte(c))
		i += 2
	}
	return b.String(), nil
}
